/**
 * The CDN side of "bounded everywhere": darkroom in-process with the embedded S3 as storage and,
 * as the CDN, a real loopback TCP peer that accepts and never answers, answers too late, stalls
 * its body, or fails only the signature-prefix request. Each read ends within the documented
 * bound (`cdn.timeoutMs`, then storage), falls back for the documented reason, and a CDN request
 * that is given up is cancelled (its socket closes).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CdnClient } from '../../src/delivery/cdn-client.js';
import { CdnSource } from '../../src/delivery/cdn-source.js';
import { startHangingPeer, peerObject, type HangingPeer } from '../support/hanging-peer.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';
import { bucketClient, freshKey, metricValue, putObject, transformCount } from './read-support.js';

const bucket = 'test-bucket';
const prefix = 'img/';
const timeoutMs = 300;
/** Slack for timers and the event loop on a shared machine. */
const slackMs = 1_500;

let peer: HangingPeer;
let stack: Stack;
let s3: S3Client;

beforeAll(async () => {
  peer = await startHangingPeer({ kind: 'silent' });
  // A breaker that never opens here: every read meets the hanging CDN.
  const breaker = '{volumeThreshold: 10000, errorThresholdPercentage: 99, resetTimeoutSeconds: 1, rollingWindowSeconds: 1}';
  stack = await startStack({
    appsYaml: [
      appYaml('hang', `storage: {provider: s3, bucket: ${bucket}, prefix: "${prefix}"}\ncdn: {url: "${peer.endpoint}", timeoutMs: ${timeoutMs}, breaker: ${breaker}}`),
      appYaml('hangv', `storage: {provider: s3, bucket: ${bucket}, prefix: "${prefix}"}\ncdn: {url: "${peer.endpoint}", timeoutMs: ${timeoutMs}, breaker: ${breaker}}\nvariants: {widths: [64]}`),
    ].join('---\n'),
  });
  s3 = bucketClient(stack);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.close();
  await peer?.close();
});

/** Stores the peer's object in storage too, so that a fallback finds the same bytes. */
async function storedKey(): Promise<string> {
  const key = freshKey();
  await putObject(s3, bucket, `${prefix}${key}`, peerObject, 'image/jpeg');
  return key;
}

const url = (key: string) => `${stack.darkroom.url}/darkroom/hang/v2/images/${key}`;
const fallbacks = (reason: string) => metricValue(stack.darkroom.metrics.cdnFallbacks, { app: 'hang', reason });

async function timedRead(key: string, init: RequestInit = {}): Promise<{ response: Response; body: Buffer; elapsedMs: number }> {
  const started = Date.now();
  const response = await fetch(url(key), init);
  const body = Buffer.from(await response.arrayBuffer());
  return { response, body, elapsedMs: Date.now() - started };
}

describe('a CDN that hangs', () => {
  for (const [name, behaviour] of [
    ['accepts and never answers', { kind: 'silent' }],
    ['answers after three times cdn.timeoutMs', { kind: 'slow', delayMs: 3 * timeoutMs }],
  ] as const) {
    it(`${name}: falls back to storage at cdn.timeoutMs (reason timeout), the CDN request cancelled`, async () => {
      peer.behaviour = behaviour;
      const key = await storedKey();
      const before = { timeouts: await fallbacks('timeout'), closed: peer.closedByClient };
      const { response, body, elapsedMs } = await timedRead(key);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-darkroom-source')).toBe('storage');
      expect(body.equals(peerObject)).toBe(true);
      expect(elapsedMs).toBeGreaterThanOrEqual(timeoutMs - 20);
      expect(elapsedMs).toBeLessThan(timeoutMs + slackMs);
      expect(await fallbacks('timeout')).toBe(before.timeouts + 1);
      await peer.waitForClientCloses(before.closed + 1, slackMs);
    });
  }

  it('a client that leaves while darkroom waits for the CDN cancels the CDN request; nothing falls back', async () => {
    peer.behaviour = { kind: 'silent' };
    const key = await storedKey();
    const before = { closed: peer.closedByClient, aborted: await metricValue(stack.darkroom.metrics.imageReads, { app: 'hang', source: 'cdn', outcome: 'aborted' }) };
    const target = new URL(url(key));
    const request = httpRequest({ host: target.hostname, port: target.port, path: target.pathname });
    request.on('error', () => undefined);
    request.end();
    await new Promise((resolve) => setTimeout(resolve, timeoutMs / 3));
    request.destroy();
    await peer.waitForClientCloses(before.closed + 1, timeoutMs);
    await expect
      .poll(() => metricValue(stack.darkroom.metrics.imageReads, { app: 'hang', source: 'cdn', outcome: 'aborted' }), { timeout: slackMs, interval: 20 })
      .toBe(before.aborted + 1);
  });

  it('a 206 that does not start at byte 0: the signature prefix goes through the same path, and falls back to storage when the CDN fails it', async () => {
    // The CDN serves the range the client asked for, and hangs on the 12-byte prefix request.
    peer.behaviour = { kind: 'per-request', choose: (head) => (/\r\nrange: bytes=0-11\r\n/i.test(`${head}\r\n`) ? { kind: 'silent' } : { kind: 'slow', delayMs: 0 }) };
    const key = await storedKey();
    const before = await fallbacks('timeout');
    const { response, body, elapsedMs } = await timedRead(key, { headers: { Range: 'bytes=100-199' } });
    expect(response.status).toBe(206);
    expect(response.headers.get('x-darkroom-source')).toBe('cdn');
    expect(response.headers.get('content-range')).toBe(`bytes 100-199/${peerObject.length}`);
    expect(body.equals(peerObject.subarray(100, 200))).toBe(true);
    expect(elapsedMs).toBeLessThan(timeoutMs + slackMs);
    // The prefix request was the one that timed out and fell back, through the breaker.
    expect(await fallbacks('timeout')).toBe(before + 1);
  });
});

describe('a CDN that stalls the body of the signature-prefix request', () => {
  it('falls back to storage for the prefix within cdn.timeoutMs, never a 5xx', async () => {
    peer.behaviour = {
      kind: 'per-request',
      choose: (head) => (/\r\nrange: bytes=0-11\r\n/i.test(`${head}\r\n`) ? { kind: 'stall-body', sentBytes: 5 } : { kind: 'slow', delayMs: 0 }),
    };
    const key = await storedKey();
    const before = await fallbacks('timeout');
    const { response, body, elapsedMs } = await timedRead(key, { headers: { Range: 'bytes=1000-1099' } });
    expect(response.status).toBe(206);
    expect(body.equals(peerObject.subarray(1000, 1100))).toBe(true);
    expect(elapsedMs).toBeLessThan(timeoutMs + slackMs);
    expect(await fallbacks('timeout')).toBe(before + 1);
  });
});

describe('a CDN that sends headers then stalls the body (CdnSource on the shared pool)', () => {
  it('cuts the body after the idle timeout and closes the connection', async () => {
    peer.behaviour = { kind: 'stall-body', sentBytes: 2048 };
    const client = new CdnClient({ bodyIdleTimeoutMs: 500 });
    const source = new CdnSource(client, peer.endpoint, timeoutMs);
    const before = peer.closedByClient;
    const started = Date.now();
    try {
      const reply = await source.read({ method: 'GET', objectKey: `${prefix}${freshKey()}`, range: undefined, preconditions: {}, signal: new AbortController().signal });
      expect(reply.status).toBe(200);
      let received = 0;
      await expect(
        (async () => {
          for await (const chunk of reply.body as AsyncIterable<Buffer>) received += chunk.length;
        })(),
      ).rejects.toBeDefined();
      expect(received).toBe(2048);
      expect(Date.now() - started).toBeLessThan(500 + slackMs);
      await peer.waitForClientCloses(before + 1, slackMs);
    } finally {
      await client.close();
    }
  });
});

describe('a CDN that cuts an original off while a variant is made from it', () => {
  it('answers 503 STORAGE_UNAVAILABLE with Retry-After, never a 500, and makes nothing of the part it got', async () => {
    // Variant lookups miss at the CDN (and in storage); the original's body ends after 1 000 of its 64 KiB.
    peer.behaviour = { kind: 'per-request', choose: (head) => (head.includes('/variants/') ? { kind: 'answer', status: 404, headers: {}, body: 'no such key' } : { kind: 'cut-body', sentBytes: 1_000 }) };
    const key = await storedKey();
    const transforms = () => transformCount(stack.darkroom.metrics, 'hangv');
    const before = await transforms();
    const response = await fetch(`${stack.darkroom.url}/darkroom/hangv/v2/images/${key}?w=64`, { headers: { Accept: 'image/webp' } });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('STORAGE_UNAVAILABLE');
    expect(await transforms()).toBe(before);
  });
});
