/**
 * Every error code of the catalogue, produced through HTTP against real parts (embedded S3,
 * darkroom on a port), with its status, JSON shape and headers. The last test fails when a code
 * is added to the catalogue without a scenario here.
 */
import express from 'express';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { AppRegistry } from '../../src/config/app-registry.js';
import { parseAppsYaml } from '../../src/config/sources/file-source.js';
import { buildSnapshot } from '../../src/config/snapshot.js';
import { errorCatalogue, errorCodes, type ErrorCode } from '../../src/core/errors.js';
import { createLogger } from '../../src/logging/logger.js';
import { DarkroomMetrics } from '../../src/metrics/metrics.js';
import { MemoryRateLimiter } from '../../src/ratelimit/memory-rate-limiter.js';
import { tinyPng } from '../fixtures/images.js';
import { jpegImage, pngBomb } from '../support/images.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';
import { bucketClient, putObject } from './read-support.js';

const apps = [
  appYaml('shop', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nupload: {maxBytes: 1000, allowedExtensions: [png, jpg]}`),
  appYaml('pngonly', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nupload: {allowedExtensions: [png]}`),
  appYaml('closed', `allowPublicUpload: false\nstorage: {provider: s3, bucket: test-bucket}`),
  appYaml('tiny', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: 1, windowSeconds: 3600}`),
  appYaml('broken', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nupload: {maxBytes: -5}`),
  appYaml('resized', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket, prefix: resized/}\nvariants: {widths: [320]}`),
  // Port 1 on loopback: nothing listens there, so storage is down for this app.
  appYaml('nostorage', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket, endpoint: "http://127.0.0.1:1"}`),
  // A Secret the apps file cannot provide: refused, and the refusal's detail names Secret and bucket.
  appYaml('secretive', `allowPublicUpload: true\nstorage: {provider: s3, bucket: private-team-bucket, credentialsSecretRef: {name: vault-s3-creds}}`),
  // Bearer tokens verified against a JWKS endpoint that refuses connections (port 1).
  appYaml('tokens', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nauth: {mode: jwt, jwt: {jwksURL: "http://127.0.0.1:1/idp-internal/jwks", issuer: "https://idp.internal.test/", audiences: [tokens]}}`),
].join('---\n');

/** Names that exist inside darkroom's config and must never reach a client. */
const internalNames = ['test-bucket', 'private-team-bucket', 'vault-s3-creds', 'Secret', 'namespace', '127.0.0.1', 'idp-internal', 'idp.internal.test', 'DARKROOM_', 'apps.yaml', 'credentialsSecretRef', 'publicBaseURL'];

let stack: Stack;
const wellFormedKey = `${'0'.repeat(32)}-missing.png`;

beforeAll(async () => {
  stack = await startStack({ appsYaml: apps });
});
afterAll(async () => {
  await stack.close();
});

interface Call {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const presignPath = (app: string) => `/darkroom/${app}/v1/images/presigned-urls`;
const json = (value: unknown) => JSON.stringify(value);
const owner = { 'X-Owner-Id': 'owner-1', 'Content-Type': 'application/json' };

const scenarios: Array<[ErrorCode, Call]> = [
  ['MISSING_OWNER_ID', { method: 'POST', path: presignPath('shop'), headers: { 'Content-Type': 'application/json' }, body: json({ file: 'a.png', size: 1 }) }],
  ['INVALID_OWNER_ID', { method: 'POST', path: presignPath('shop'), headers: { ...owner, 'X-Owner-Id': 'two words' }, body: json({ file: 'a.png', size: 1 }) }],
  ['UNSUPPORTED_MEDIA_TYPE', { method: 'POST', path: presignPath('shop'), headers: { ...owner, 'Content-Type': 'text/plain' }, body: 'file=a.png' }],
  ['PAYLOAD_TOO_LARGE', { method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file: `${'a'.repeat(9000)}.png` }) }],
  ['INVALID_JSON', { method: 'POST', path: presignPath('shop'), headers: owner, body: '{"file": ' }],
  ['INVALID_BODY', { method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file: 42 }) }],
  ['INVALID_FILE_NAME', { method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file: 'no-extension', size: 1 }) }],
  ['UNSUPPORTED_FILE_TYPE', { method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file: 'page.html', size: 1 }) }],
  ['CONTENT_TYPE_MISMATCH', { method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file: 'a.png', contentType: 'image/jpeg', size: 1 }) }],
  ['APP_NOT_FOUND', { method: 'POST', path: presignPath('nosuchapp'), headers: owner, body: json({ file: 'a.png', size: 1 }) }],
  ['MISSING_TOKEN', { method: 'POST', path: presignPath('tokens'), headers: owner, body: json({ file: 'a.png', size: 1 }) }],
  ['INVALID_TOKEN', { method: 'POST', path: presignPath('tokens'), headers: { ...owner, Authorization: 'Bearer not-a-jwt' }, body: json({ file: 'a.png', size: 1 }) }],
  // A well-formed token whose keys cannot be fetched (signature never checked: no keys at all).
  ['TOKEN_KEYS_UNAVAILABLE', { method: 'POST', path: presignPath('tokens'), headers: { ...owner, Authorization: 'Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhIn0.c2ln' }, body: json({ file: 'a.png', size: 1 }) }],
  ['APP_CONFIG_INVALID', { method: 'POST', path: presignPath('broken'), headers: owner, body: json({ file: 'a.png', size: 1 }) }],
  ['APP_CONFIG_INVALID', { method: 'POST', path: presignPath('secretive'), headers: owner, body: json({ file: 'a.png', size: 1 }) }],
  ['APP_CONFIG_INVALID', { path: `/darkroom/secretive/v2/images/${wellFormedKey}` }],
  ['PUBLIC_UPLOAD_DISABLED', { method: 'POST', path: presignPath('closed'), headers: owner, body: json({ file: 'a.png', size: 1 }) }],
  ['EXTENSION_NOT_ALLOWED', { method: 'POST', path: presignPath('pngonly'), headers: owner, body: json({ file: 'a.jpg', size: 1 }) }],
  ['SIZE_REQUIRED', { method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file: 'a.png' }) }],
  ['FILE_TOO_LARGE', { method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file: 'a.png', size: 1001 }) }],
  ['INVALID_IMAGE_KEY', { path: '/darkroom/shop/v2/images/..%2F..%2Fetc%2Fpasswd' }],
  ['IMAGE_NOT_FOUND', { path: `/darkroom/shop/v2/images/${wellFormedKey}` }],
  ['STORAGE_UNAVAILABLE', { path: `/darkroom/nostorage/v2/images/${wellFormedKey}` }],
  ['INVALID_VARIANT', { path: `/darkroom/shop/v2/images/${wellFormedKey}?w=320` }],
  ['ROUTE_NOT_FOUND', { path: '/darkroom/shop/v3/whatever' }],
  ['METHOD_NOT_ALLOWED', { method: 'DELETE', path: `/darkroom/shop/v2/images/${wellFormedKey}` }],
  ['BAD_REQUEST', { path: '/darkroom/%E0%A4%A/v2/images/x.png' }],
];

async function call(request: Call, base = stack.darkroom.url): Promise<Response> {
  return fetch(`${base}${request.path}`, { method: request.method ?? 'GET', headers: request.headers, body: request.body });
}

async function expectError(response: Response, code: ErrorCode): Promise<void> {
  const text = await response.text();
  const body = JSON.parse(text) as { success: boolean; error: { code: string; message: string; requestId: string } };
  expect(body.error?.code, text).toBe(code);
  expect(response.status).toBe(errorCatalogue[code].status);
  expect(body.success).toBe(false);
  // Catalogue text only, and nothing internal anywhere in the body or the headers.
  expect(body.error.message).toBe(errorCatalogue[code].message);
  const everything = `${text}\n${[...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n')}`;
  for (const name of [...internalNames, stack.storage.endpoint, stack.appsFile]) expect(everything, `${code} answer names ${name}`).not.toContain(name);
  expect(body.error.requestId).toBe(response.headers.get('x-request-id'));
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('cache-control')).toBe('no-store');
}

/**
 * Codes whose scenario needs more than one request or another darkroom; each has its own test
 * below, named after the code, that produces it through HTTP.
 */
const dedicatedTests = ['RATE_LIMITED', 'INTERNAL_ERROR', 'RATE_LIMIT_UNAVAILABLE', 'IMAGE_REFUSED', 'RANGE_NOT_SATISFIABLE', 'IMAGE_NOT_TRANSFORMABLE', 'TRANSFORM_BUSY'] as const satisfies readonly ErrorCode[];

describe('every error code through HTTP', () => {
  it.each(scenarios)('%s', async (code, request) => {
    const started = Date.now();
    await expectError(await call(request), code);
    // Bounded: a dead dependency is reported, not waited on for long.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('RATE_LIMITED with Retry-After and RateLimit headers, after a success that carried the remaining quota', async () => {
    const request = { method: 'POST', path: presignPath('tiny'), headers: { ...owner, 'X-Owner-Id': 'rate-owner' }, body: json({ file: 'a.png', size: 10 }) };
    const first = await call(request);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toBe('"upload";r=0;t=3600');
    expect(first.headers.get('ratelimit-policy')).toBe('"upload";q=1;w=3600');
    const second = await call(request);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(3000);
    expect(second.headers.get('ratelimit')).toMatch(/^"upload";r=0;t=\d+$/);
    await expectError(second, 'RATE_LIMITED');
    // Another owner is not affected.
    expect((await call({ ...request, headers: { ...owner, 'X-Owner-Id': 'someone-else' } })).status).toBe(200);
  });

  it('X_Owner_Id is accepted where proxies drop dashed names… and two different identities are refused', async () => {
    const body = json({ file: 'a.png', size: 10 });
    const underscored = await call({ method: 'POST', path: presignPath('shop'), headers: { 'Content-Type': 'application/json', X_Owner_Id: 'u-1' }, body });
    expect(underscored.status).toBe(200);
    const both = await call({ method: 'POST', path: presignPath('shop'), headers: { ...owner, X_Owner_Id: 'someone-else' }, body });
    await expectError(both, 'INVALID_OWNER_ID');
  });

  it('checks run in the documented order (header before body, body before rate limit before app)', async () => {
    await expectError(await call({ method: 'POST', path: presignPath('nosuchapp'), headers: { 'Content-Type': 'text/plain' }, body: 'x' }), 'MISSING_OWNER_ID');
    await expectError(await call({ method: 'POST', path: presignPath('nosuchapp'), headers: owner, body: '{' }), 'INVALID_JSON');
    await expectError(await call({ method: 'POST', path: presignPath('closed'), headers: owner, body: json({ file: 'a.svg', size: 1 }) }), 'UNSUPPORTED_FILE_TYPE');
    await expectError(await call({ method: 'POST', path: presignPath('closed'), headers: owner, body: json({ file: 'a.png', size: 10 ** 12 }) }), 'PUBLIC_UPLOAD_DISABLED');
  });

  it('INTERNAL_ERROR: an unexpected failure is a generic 500 without details', async () => {
    // The one fault no real part produces on demand: a provider that throws a programming error.
    const registry = new AppRegistry();
    registry.replace(buildSnapshot(parseAppsYaml(apps, 'apps.yaml')));
    const limiter = new MemoryRateLimiter();
    const app = createApp({
      registry,
      storage: {
        forApp: () => {
          throw new TypeError('secret internal detail: bucket credentials xyz');
        },
      },
      rateLimiter: limiter,
      metrics: new DarkroomMetrics({ defaultMetrics: false }),
      logger: createLogger('silent'),
      defaultPublicBaseURL: 'https://img.example.test',
      notReadyReasons: () => [],
    });
    const server = express().use(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const response = await call({ path: `/darkroom/shop/v2/images/${wellFormedKey}` }, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const text = await response.clone().text();
      expect(text).not.toContain('secret');
      expect(text).not.toContain('TypeError');
      await expectError(response, 'INTERNAL_ERROR');
    } finally {
      server.close();
      await limiter.close();
    }
  });

  it('RATE_LIMIT_UNAVAILABLE: Redis unreachable and the failure mode is closed', async () => {
    // Port 1 on loopback: nothing listens, so the shared store is down from the start.
    const closed = await startStack({
      appsYaml: apps,
      env: { REDIS_URL: 'redis://127.0.0.1:1', DARKROOM_RATELIMIT_REDIS_FAILURE_MODE: 'closed' },
    });
    try {
      const response = await call({ method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file: 'a.png', size: 10 }) }, closed.darkroom.url);
      expect(response.headers.get('retry-after')).toBe('1');
      await expectError(response, 'RATE_LIMIT_UNAVAILABLE');
      // Readiness does not depend on Redis.
      expect((await fetch(`${closed.darkroom.url}/readyz`)).status).toBe(200);
    } finally {
      await closed.close();
    }
  });

  it('IMAGE_REFUSED and RANGE_NOT_SATISFIABLE on stored objects', async () => {
    async function upload(file: string, bytes: Buffer): Promise<string> {
      const presigned = await call({ method: 'POST', path: presignPath('shop'), headers: owner, body: json({ file, size: bytes.length }) });
      const { data } = (await presigned.json()) as { data: { uploadURL: string; publicURL: string; headers: Record<string, string> } };
      expect((await fetch(data.uploadURL, { method: 'PUT', headers: data.headers, body: bytes })).status).toBe(200);
      return new URL(data.publicURL).pathname;
    }
    // HTML uploaded under a .png name with the signed image/png type: stored, but never served.
    const html = await upload('page.png', Buffer.from('<html><script>alert(document.cookie)</script></html>'));
    await expectError(await call({ path: html }), 'IMAGE_REFUSED');
    const png = await upload('pixel.png', tinyPng);
    await expectError(await call({ path: png, headers: { Range: 'bytes=100000-' } }), 'RANGE_NOT_SATISFIABLE');
  });

  it('what the answers leave out is in the log line of the refusal, under the same request id', async () => {
    const response = await call({ method: 'POST', path: presignPath('secretive'), headers: owner, body: json({ file: 'a.png', size: 1 }) });
    const requestId = response.headers.get('x-request-id');
    await expectError(response, 'APP_CONFIG_INVALID');
    const line = stack.logLines.find((entry) => (entry.req as { id?: string } | undefined)?.id === requestId && typeof entry.detail === 'string');
    expect(line?.detail).toContain('vault-s3-creds');
  });

  it('IMAGE_NOT_TRANSFORMABLE and TRANSFORM_BUSY on variants', async () => {
    // Its own darkroom: one transform slot and no queue, so that a second miss at once is refused.
    // (Its own storage too: a stack started later replaces the ambient credentials the SDK reads.)
    const busy = await startStack({ appsYaml: apps, env: { DARKROOM_TRANSFORM_QUEUE: '0', DARKROOM_TRANSFORM_CONCURRENCY: '1' } });
    const client = bucketClient(busy);
    try {
      // A PNG of a few dozen bytes declaring 100 000 x 100 000 pixels: a decompression bomb.
      const bomb = `${'b'.repeat(32)}-bomb.png`;
      await putObject(client, 'test-bucket', `resized/${bomb}`, pngBomb(100_000, 100_000), 'image/png');
      await expectError(await call({ path: `/darkroom/resized/v2/images/${bomb}?w=320` }, busy.darkroom.url), 'IMAGE_NOT_TRANSFORMABLE');

      const photo = await jpegImage(4000, 3000);
      const keys = ['c', 'd', 'e', 'f'].map((letter) => `${letter.repeat(32)}-photo.jpg`);
      for (const key of keys) await putObject(client, 'test-bucket', `resized/${key}`, photo, 'image/jpeg');
      const answers = await Promise.all(keys.map((key) => call({ path: `/darkroom/resized/v2/images/${key}?w=320` }, busy.darkroom.url)));
      const refused = answers.filter((answer) => answer.status === 503);
      expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThanOrEqual(1);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const answer of refused) {
        expect(answer.headers.get('retry-after')).toBe('1');
        await expectError(answer, 'TRANSFORM_BUSY');
      }
    } finally {
      client.destroy();
      await busy.close();
    }
  });

  // Declared coverage, not a tally of what earlier tests happened to see: it holds whichever
  // tests run, in any order, and fails when a code joins the catalogue without a scenario.
  it('covers every code in the catalogue', () => {
    const covered = new Set<ErrorCode>([...scenarios.map(([code]) => code), ...dedicatedTests]);
    expect(errorCodes.filter((code) => !covered.has(code))).toEqual([]);
    expect(covered.size).toBe(errorCodes.length);
  });
});

describe('refusals are counted by reason', () => {
  it('darkroom_upload_urls_refused_total carries the code and a bounded app label', async () => {
    const metrics = await (await fetch(`${stack.darkroom.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/darkroom_upload_urls_refused_total\{app="_unknown",reason="MISSING_OWNER_ID"\} [1-9]/);
    expect(metrics).toMatch(/darkroom_upload_urls_refused_total\{app="closed",reason="PUBLIC_UPLOAD_DISABLED"\} [1-9]/);
    expect(metrics).toMatch(/darkroom_upload_urls_refused_total\{app="_unknown",reason="APP_NOT_FOUND"\} [1-9]/);
    expect(metrics).toMatch(/darkroom_ratelimit_rejections_total\{app="tiny"\} 1/);
    expect(metrics).toMatch(/darkroom_upload_urls_issued_total\{app="tiny"\} [1-9]/);
    expect(metrics).not.toContain('nosuchapp');
  });
});
