/**
 * HTTP semantics and "images only" on the public URL, over both paths: an app without a CDN
 * (storage) and an app behind nginx (the CDN). Same assertions for both.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jpegBytes, tinyPng } from '../fixtures/images.js';
import { appYaml, type Stack } from '../support/stack.js';
import { freshKey, metricValue, putObject, startReadStack, type ReadStack } from './read-support.js';

const bucket = 'test-bucket';
const prefix = 'p/';

let parts: ReadStack | undefined;
let stack: Stack;
let s3: S3Client;

beforeAll(async () => {
  const storage = `storage: {provider: s3, bucket: ${bucket}, prefix: "${prefix}"}`;
  parts = await startReadStack(bucket, (port) =>
    [
      appYaml('plain', `${storage}\nupload: {allowedExtensions: [jpg, png]}`),
      appYaml('edge', `${storage}\nupload: {allowedExtensions: [jpg, png]}\ncdn: {url: "http://127.0.0.1:${port}"}`),
    ].join('---\n'),
  );
  ({ stack, s3 } = parts);
});

afterAll(() => parts?.close());

async function stored(body: Buffer, contentType: string, name = 'photo.jpg'): Promise<string> {
  const key = freshKey(name);
  await putObject(s3, bucket, `${prefix}${key}`, body, contentType);
  return key;
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

describe.each([
  { app: 'plain', source: 'storage' },
  { app: 'edge', source: 'cdn' },
])('$app ($source)', ({ app, source }) => {
  const url = (key: string) => `${stack.darkroom.url}/darkroom/${app}/v2/images/${key}`;
  const image = jpegBytes(10_000);
  let key: string;
  let etag: string;
  let lastModified: string;

  beforeAll(async () => {
    key = await stored(image, 'image/jpeg');
  });

  it('GET sends the image with type, length, validators, immutable caching and the security headers', async () => {
    const response = await fetch(url(key));
    expect(response.status).toBe(200);
    expect(response.headers.get('x-darkroom-source')).toBe(source);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(response.headers.get('content-length')).toBe(String(image.length));
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('content-security-policy')).toContain('sandbox');
    etag = response.headers.get('etag') ?? '';
    lastModified = response.headers.get('last-modified') ?? '';
    expect(etag).toMatch(/^"[0-9a-f]+"$/);
    expect(Number.isNaN(Date.parse(lastModified))).toBe(false);
    expect(Buffer.from(await response.arrayBuffer()).equals(image)).toBe(true);
  });

  it('answers If-None-Match and If-Modified-Since with 304 and no body, counted as not_modified', async () => {
    const before = await metricValue(stack.darkroom.metrics.imageReads, { app, source, outcome: 'not_modified' });
    for (const headers of [{ 'if-none-match': etag }, { 'if-none-match': `"nope", W/${etag}` }, { 'if-modified-since': lastModified }]) {
      const response = await fetch(url(key), { headers });
      expect(response.status).toBe(304);
      expect(response.headers.get('etag')).toBe(etag);
      expect((await response.arrayBuffer()).byteLength).toBe(0);
    }
    expect(await metricValue(stack.darkroom.metrics.imageReads, { app, source, outcome: 'not_modified' })).toBe(before + 3);
    const changed = await fetch(url(key), { headers: { 'if-none-match': '"something-else"' } });
    expect(changed.status).toBe(200);
    await changed.arrayBuffer();
  });

  it('answers a single Range with 206 and the exact bytes', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=5000-5999', 5000, 5999],
      ['bytes=9990-', 9990, 9999],
      ['bytes=-10', 9990, 9999],
      ['bytes=9000-20000', 9000, 9999],
    ];
    for (const [range, start, end] of cases) {
      const response = await fetch(url(key), { headers: { range } });
      expect(response.status, range).toBe(206);
      expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${image.length}`);
      expect(response.headers.get('content-length')).toBe(String(end - start + 1));
      expect(Buffer.from(await response.arrayBuffer()).equals(image.subarray(start, end + 1)), range).toBe(true);
    }
  });

  it('answers an unsatisfiable Range with 416 and ignores a multi-range', async () => {
    const unsatisfiable = await fetch(url(key), { headers: { range: `bytes=${image.length}-` } });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers.get('content-range')).toBe(`bytes */${image.length}`);
    expect(await errorCode(unsatisfiable)).toBe('RANGE_NOT_SATISFIABLE');
    const multi = await fetch(url(key), { headers: { range: 'bytes=0-1,5-6' } });
    expect(multi.status).toBe(200);
    expect((await multi.arrayBuffer()).byteLength).toBe(image.length);
  });

  it('HEAD sends the headers and no body', async () => {
    const response = await fetch(url(key), { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(response.headers.get('content-length')).toBe(String(image.length));
    expect(response.headers.get('etag')).toBe(etag);
    expect((await response.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves other allowed formats by their signature (PNG)', async () => {
    const png = await stored(tinyPng, 'image/png', 'dot.png');
    const response = await fetch(url(png));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer()).equals(tinyPng)).toBe(true);
  });

  it('refuses HTML or SVG stored under .jpg, with a metric and a log line, and never sends the payload', async () => {
    const html = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>'.padEnd(200, ' '));
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const refused = (reason: string) => metricValue(stack.darkroom.metrics.imageReadsRefused, { app, reason });
    const before = { signature: await refused('signature_mismatch'), type: await refused('type_mismatch'), ext: await refused('extension_not_allowed') };
    const cases = [
      { key: await stored(html, 'image/jpeg'), reason: 'signature_mismatch', headers: {} },
      { key: await stored(html, 'image/jpeg'), reason: 'signature_mismatch', headers: { range: 'bytes=50-99' } },
      { key: await stored(html, 'text/html'), reason: 'type_mismatch', headers: {} },
      { key: await stored(svg, 'image/svg+xml'), reason: 'type_mismatch', headers: {} },
      { key: await stored(jpegBytes(500), 'image/gif', 'anim.gif'), reason: 'extension_not_allowed', headers: {} },
    ];
    for (const item of cases) {
      const response = await fetch(url(item.key), { headers: item.headers });
      const text = await response.text();
      expect(response.status, item.reason).toBe(404);
      expect(response.headers.get('content-type')).toContain('application/json');
      expect(text).not.toContain('<script>');
      expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('IMAGE_REFUSED');
    }
    expect(await refused('signature_mismatch')).toBe(before.signature + 2);
    expect(await refused('type_mismatch')).toBe(before.type + 2);
    expect(await refused('extension_not_allowed')).toBe(before.ext + 1);
    const head = await fetch(url(cases[2]?.key ?? ''), { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(stack.logLines.some((line) => line.app === app && line.reason === 'signature_mismatch' && String(line.msg).includes('refused'))).toBe(true);
  });

  it('answers 404 IMAGE_NOT_FOUND for a missing object and 400 for a malformed key', async () => {
    const missing = await fetch(url(freshKey()));
    expect(missing.status).toBe(404);
    expect(await errorCode(missing)).toBe('IMAGE_NOT_FOUND');
    const malformed = await fetch(url('..%2F..%2Fetc%2Fpasswd'));
    expect(malformed.status).toBe(400);
    expect(await errorCode(malformed)).toBe('INVALID_IMAGE_KEY');
  });
});
