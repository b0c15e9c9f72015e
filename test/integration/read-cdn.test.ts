/**
 * CDN first, storage fallback, with real parts: nginx (a caching reverse proxy, the CDN) in front
 * of s3rver, the embedded S3 behind its SigV4 verifier (darkroom's storage), darkroom in-process.
 * Every scenario asserts metric deltas as well as status codes. Each scenario has its own app, so
 * its own breaker.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jpegBytes } from '../fixtures/images.js';
import type { NginxCdn } from '../support/nginx-cdn.js';
import { appYaml, type Stack } from '../support/stack.js';
import { freshKey, metricValue, putObject, startReadStack, type ReadStack } from './read-support.js';

const bucket = 'test-bucket';
const prefix = 'img/';
const timeoutMs = 300;
const volumeThreshold = 4;

let parts: ReadStack | undefined;
let stack: Stack;
let cdn: NginxCdn;
let s3: S3Client;

function cdnApp(name: string, breaker = `{volumeThreshold: ${volumeThreshold}, errorThresholdPercentage: 50, resetTimeoutSeconds: 1, rollingWindowSeconds: 30}`, port = 0): string {
  return appYaml(
    name,
    `storage: {provider: s3, bucket: ${bucket}, prefix: "${prefix}"}\ncdn: {url: "http://127.0.0.1:${port}", timeoutMs: ${timeoutMs}, breaker: ${breaker}}`,
  );
}

beforeAll(async () => {
  parts = await startReadStack(bucket, (port) => ['healthy', 'fresh', 'flaky', 'down', 'abort', 'both'].map((name) => cdnApp(name, undefined, port)).join('---\n'));
  ({ stack, cdn, s3 } = parts);
});

afterAll(() => parts?.close());

async function upload(size = 4096): Promise<{ key: string; body: Buffer }> {
  const key = freshKey();
  const body = jpegBytes(size);
  await putObject(s3, bucket, `${prefix}${key}`, body, 'image/jpeg');
  return { key, body };
}

function imageUrl(app: string, key: string): string {
  return `${stack.darkroom.url}/darkroom/${app}/v2/images/${key}`;
}

const m = () => stack.darkroom.metrics;
const reads = (app: string, source: string, outcome: string) => metricValue(m().imageReads, { app, source, outcome });
const fallbacks = (app: string, reason: string) => metricValue(m().cdnFallbacks, { app, reason });
const breakerState = (app: string) => metricValue(m().cdnBreakerState, { app });

describe('CDN healthy', () => {
  it('serves from the CDN, counted by source, and the CDN caches it', async () => {
    const { key, body } = await upload();
    const before = { cdn: await reads('healthy', 'cdn', 'ok'), storage: await reads('healthy', 'storage', 'ok'), nginx: await cdn.requestCount() };
    for (let i = 0; i < 2; i += 1) {
      const response = await fetch(imageUrl('healthy', key));
      expect(response.status).toBe(200);
      expect(response.headers.get('x-darkroom-source')).toBe('cdn');
      expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
    }
    expect(await reads('healthy', 'cdn', 'ok')).toBe(before.cdn + 2);
    expect(await reads('healthy', 'storage', 'ok')).toBe(before.storage);
    await expect.poll(async () => (await cdn.accessLog()).length, { timeout: 2_000, interval: 20 }).toBe(before.nginx + 2);
    const log = await cdn.accessLog();
    expect(log.slice(-2).map((entry) => entry.path)).toEqual([`/${prefix}${key}`, `/${prefix}${key}`]);
    expect(await breakerState('healthy')).toBe(0);
    // /metrics on the admin port carries the series.
    const exposition = await (await fetch(`${stack.darkroom.adminUrl}/metrics`)).text();
    expect(exposition).toMatch(/darkroom_image_reads_total\{app="healthy",source="cdn",outcome="ok"\} \d+/);
    expect(exposition).toContain('darkroom_cdn_breaker_state{app="healthy"} 0');
  });
});

describe('CDN 404 for a fresh object', () => {
  it('falls back to storage without counting against the CDN', async () => {
    const key = freshKey();
    // Asked before it exists: the CDN caches the 404 (a negative cache entry).
    const missing = await fetch(imageUrl('fresh', key));
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('IMAGE_NOT_FOUND');
    const body = jpegBytes(3000);
    await putObject(s3, bucket, `${prefix}${key}`, body, 'image/jpeg');

    const before = { notFound: await fallbacks('fresh', 'not_found'), storage: await reads('fresh', 'storage', 'ok') };
    // More 404s than the volume threshold: none of them may open the breaker.
    for (let i = 0; i < volumeThreshold + 2; i += 1) {
      const response = await fetch(imageUrl('fresh', key));
      expect(response.status).toBe(200);
      expect(response.headers.get('x-darkroom-source')).toBe('storage');
      expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
    }
    expect(await fallbacks('fresh', 'not_found')).toBe(before.notFound + volumeThreshold + 2);
    expect(await reads('fresh', 'storage', 'ok')).toBe(before.storage + volumeThreshold + 2);
    expect(await breakerState('fresh')).toBe(0);
    await expect.poll(async () => (await cdn.accessLog()).at(-1)?.status, { timeout: 2_000, interval: 20 }).toBe(404);
  });
});

describe('CDN 5xx and CDN slow', () => {
  it('a 5xx falls back to storage, counted as status_5xx', async () => {
    const { key, body } = await upload();
    await cdn.start('5xx');
    try {
      const before = { reason: await fallbacks('flaky', 'status_5xx'), storage: await reads('flaky', 'storage', 'ok') };
      const response = await fetch(imageUrl('flaky', key));
      expect(response.status).toBe(200);
      expect(response.headers.get('x-darkroom-source')).toBe('storage');
      expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
      expect(await fallbacks('flaky', 'status_5xx')).toBe(before.reason + 1);
      expect(await reads('flaky', 'storage', 'ok')).toBe(before.storage + 1);
      await expect.poll(async () => (await cdn.accessLog()).at(-1)?.status, { timeout: 2_000, interval: 20 }).toBe(503);
    } finally {
      await cdn.start('healthy');
    }
  });

  it('a CDN that does not answer is cut at the timeout and storage serves', async () => {
    const { key, body } = await upload();
    await cdn.start('slow');
    try {
      const before = await fallbacks('flaky', 'timeout');
      const started = performance.now();
      const response = await fetch(imageUrl('flaky', key));
      const elapsed = performance.now() - started;
      expect(response.status).toBe(200);
      expect(response.headers.get('x-darkroom-source')).toBe('storage');
      expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 10);
      expect(await fallbacks('flaky', 'timeout')).toBe(before + 1);
      // Really cancelled: darkroom closed its connection, so nginx logs "client closed" (499).
      await expect.poll(async () => (await cdn.accessLog()).at(-1)?.status, { timeout: 5_000 }).toBe(499);
    } finally {
      await cdn.start('healthy');
    }
  });
});

describe('CDN stopped', () => {
  it('falls back, opens after the volume threshold, skips the CDN while open, and closes after the half-open probe', async () => {
    const { key, body } = await upload();
    await cdn.stop();
    const before = { error: await fallbacks('down', 'error'), open: await fallbacks('down', 'circuit_open') };
    for (let i = 0; i < volumeThreshold; i += 1) {
      const response = await fetch(imageUrl('down', key));
      expect(response.status).toBe(200);
      expect(response.headers.get('x-darkroom-source')).toBe('storage');
      expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
    }
    expect(await fallbacks('down', 'error')).toBe(before.error + volumeThreshold);
    expect(await breakerState('down')).toBe(2);

    // While open, the CDN is not asked at all, even once it is back.
    await cdn.start('healthy');
    const nginxBefore = await cdn.requestCount();
    for (let i = 0; i < 3; i += 1) {
      const response = await fetch(imageUrl('down', key));
      expect(response.status).toBe(200);
      expect(response.headers.get('x-darkroom-source')).toBe('storage');
      await response.arrayBuffer();
    }
    expect(await fallbacks('down', 'circuit_open')).toBe(before.open + 3);
    // Give nginx time to log anything it might have answered, so that "nothing" is really nothing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await cdn.requestCount()).toBe(nginxBefore);

    // After resetTimeoutSeconds (1 s) one trial goes to the CDN; it succeeds and closes the breaker.
    await expect.poll(() => breakerState('down'), { timeout: 3_000, interval: 50 }).toBe(1);
    const probe = await fetch(imageUrl('down', key));
    expect(probe.status).toBe(200);
    expect(probe.headers.get('x-darkroom-source')).toBe('cdn');
    expect(Buffer.from(await probe.arrayBuffer()).equals(body)).toBe(true);
    expect(await breakerState('down')).toBe(0);
    // nginx writes its access log line just after the last byte: poll rather than race it.
    await expect.poll(() => cdn.requestCount(), { timeout: 2_000, interval: 20 }).toBe(nginxBefore + 1);
    const after = await fetch(imageUrl('down', key));
    expect(after.headers.get('x-darkroom-source')).toBe('cdn');
    await after.arrayBuffer();
    expect(stack.logLines.some((line) => line.app === 'down' && line.state === 'open')).toBe(true);
  });
});

describe('client disconnects', () => {
  it('aborts the CDN request mid-stream', async () => {
    const size = 32 * 1024 * 1024;
    const { key } = await upload(size);
    // Warm the CDN cache, so nginx streams from its cache at full speed.
    await (await fetch(imageUrl('abort', key))).arrayBuffer();
    const before = await reads('abort', 'cdn', 'aborted');
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(imageUrl('abort', key), (res) => {
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > 64 * 1024) {
            req.destroy();
            resolve();
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (error) => (req.destroyed ? undefined : reject(error)));
      req.end();
    });
    await expect.poll(() => reads('abort', 'cdn', 'aborted'), { timeout: 5_000 }).toBe(before + 1);
    // nginx logged the request as finished with less than the object sent: darkroom closed the
    // CDN connection mid-body (what is sent is bounded by the socket buffers on the way).
    await expect.poll(async () => (await cdn.accessLog()).at(-1)?.bytesSent ?? size, { timeout: 5_000 }).toBeLessThan(size);
  });
});

describe('storage down as well', () => {
  it('answers a bounded 503 JSON error, never hangs', async () => {
    const { key } = await upload();
    await cdn.stop();
    await stack.storage.close();
    const before = { error: await reads('both', 'storage', 'error'), fallback: await fallbacks('both', 'error') };
    const started = performance.now();
    const response = await fetch(imageUrl('both', key), { signal: AbortSignal.timeout(15_000) });
    expect(performance.now() - started).toBeLessThan(12_000);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('STORAGE_UNAVAILABLE');
    expect(await reads('both', 'storage', 'error')).toBe(before.error + 1);
    expect(await fallbacks('both', 'error')).toBe(before.fallback + 1);
  });
});
