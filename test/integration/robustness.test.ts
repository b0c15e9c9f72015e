/**
 * Property-based abuse of the HTTP surface: no request body, header value or path yields a 500,
 * a hang or a non-JSON error; and operational behaviour (request ids, redaction, health, metrics).
 */
import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appYaml, startStack, type Stack } from '../support/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    appsYaml: appYaml('shop', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: 1000000, windowSeconds: 1}`),
  });
});
afterAll(async () => {
  await stack.close();
});

/** Sends raw bytes as the body with any content type, bypassing fetch's own validation. */
function rawPost(path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: string; contentType: string | undefined }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, stack.darkroom.url);
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: res.headers['content-type'] }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

const jsonish = fc.oneof(
  fc.json().map((text) => Buffer.from(text)),
  fc.jsonValue().map((value) => Buffer.from(JSON.stringify({ file: value, size: value, contentType: value }))),
  fc.record({ file: fc.string(), size: fc.oneof(fc.integer(), fc.double(), fc.string()), contentType: fc.string() }, { requiredKeys: [] }).map((value) => Buffer.from(JSON.stringify(value))),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => Buffer.from(text)),
);
// Header values as HTTP can carry them (RFC 9110 field-value: visible ASCII, space, tab, obs-text).
const headerValue = fc.string({
  unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(0x09)).map((code) => String.fromCharCode(code)),
  maxLength: 200,
});

function expectWellFormedAnswer(answer: { status: number; body: string; contentType: string | undefined }): void {
  expect(answer.status).toBeLessThan(500);
  if (answer.status !== 200) {
    expect(answer.contentType).toMatch(/^application\/json/);
    const parsed = JSON.parse(answer.body) as { success: boolean; error: { code: string } };
    expect(parsed.success).toBe(false);
    expect(parsed.error.code).toMatch(/^[A-Z_]+$/);
  }
}

describe('no request yields a 500', () => {
  it('for any body', async () => {
    await fc.assert(
      fc.asyncProperty(jsonish, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded'), async (body, contentType) => {
        expectWellFormedAnswer(await rawPost('/darkroom/shop/v1/images/presigned-urls', { 'Content-Type': contentType, 'X-Owner-Id': 'prop' }, body));
      }),
      { numRuns: 300 },
    );
  });

  it('for any owner header value', async () => {
    await fc.assert(
      fc.asyncProperty(headerValue, async (owner) => {
        const answer = await rawPost('/darkroom/shop/v1/images/presigned-urls', { 'Content-Type': 'application/json', 'X-Owner-Id': owner }, Buffer.from('{"file":"a.png","size":5}'));
        expectWellFormedAnswer(answer);
      }),
      { numRuns: 300 },
    );
  });

  it('for any app name or key in the path', async () => {
    // Raw path segments: encoded arbitrary text, or malformed and hostile encodings as sent on the wire.
    const segment = fc.oneof(
      fc.string({ maxLength: 80 }).map(encodeURIComponent),
      fc.constantFrom('%2e%2e', '%', '%ZZ', '%00', 'a%2Fb', '%E0%A4%A', '%C0%AE', '~', '%e9'),
    );
    await fc.assert(
      fc.asyncProperty(segment, segment, async (app, key) => {
        const path = `/darkroom/${app}/v2/images/${key}`;
        const response = await fetch(new URL(path, stack.darkroom.url), { signal: AbortSignal.timeout(5_000) });
        const text = await response.text();
        expectWellFormedAnswer({ status: response.status, body: text, contentType: response.headers.get('content-type') ?? undefined });
      }),
      { numRuns: 200 },
    );
  });
});

describe('operations', () => {
  it('echoes a sane caller request id and logs it; invents one otherwise', async () => {
    const given = await fetch(`${stack.darkroom.url}/darkroom/nosuch/v2/images/x.png`, { headers: { 'X-Request-Id': 'gateway-abc.123' } });
    expect(given.headers.get('x-request-id')).toBe('gateway-abc.123');
    const invented = await fetch(`${stack.darkroom.url}/darkroom/nosuch/v2/images/x.png`, { headers: { 'X-Request-Id': 'bad id\twith tab' } });
    expect(invented.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stack.logLines.some((line) => (line.req as { id?: string } | undefined)?.id === 'gateway-abc.123')).toBe(true);
  });

  it('never logs a presigned URL or its signature', async () => {
    const response = await fetch(`${stack.darkroom.url}/darkroom/shop/v1/images/presigned-urls`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Owner-Id': 'logger' },
      body: JSON.stringify({ file: 'a.png', size: 10 }),
    });
    const { data } = (await response.json()) as { data: { uploadURL: string } };
    const signature = new URL(data.uploadURL).searchParams.get('X-Amz-Signature')!;
    stack.darkroom.logger.info({ uploadURL: data.uploadURL, data: { uploadURL: data.uploadURL } }, 'a careless log call');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const all = JSON.stringify(stack.logLines);
    expect(all).toContain('a careless log call');
    expect(all).not.toContain(signature);
    expect(all).not.toContain(stack.credentials.secretAccessKey);
  });

  it('/healthz and /readyz answer on the main port, /metrics only on the admin port', async () => {
    expect((await fetch(`${stack.darkroom.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${stack.darkroom.url}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready' });
    expect((await fetch(`${stack.darkroom.url}/metrics`)).status).toBe(404);
    const metrics = await (await fetch(`${stack.darkroom.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/darkroom_config_apps_loaded 1/);
    expect(metrics).toMatch(/darkroom_http_requests_total\{route="presign_upload",method="POST",status="200"\} [1-9]/);
    expect(metrics).toMatch(/process_cpu_user_seconds_total/);
  });
});
