/**
 * What holds connections is released: a replaced or dropped storage provider closes its client
 * (its keep-alive sockets close, seen from a real loopback peer), a start that fails releases the
 * Redis connection and the CDN pool, and a CDN reply that arrives after opossum's backstop
 * timeout has its body destroyed instead of left unread.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { darkroomAppSchema } from '../../src/config/darkroom-app.js';
import { loadSettings } from '../../src/config/settings.js';
import { startDarkroom } from '../../src/darkroom.js';
import { breakerTimeoutMarginMs } from '../../src/delivery/cdn-breaker.js';
import { CdnBreakers } from '../../src/delivery/cdn-breakers.js';
import { CdnClient, type CdnResponse } from '../../src/delivery/cdn-client.js';
import { ImageReader } from '../../src/delivery/image-reader.js';
import { createLogger } from '../../src/logging/logger.js';
import { DarkroomMetrics } from '../../src/metrics/metrics.js';
import { buildS3StorageProvider } from '../../src/storage/s3-builder.js';
import type { StorageProvider } from '../../src/storage/storage-provider.js';
import { CachedStorageProviders } from '../../src/storage/storage-providers.js';
import { startHangingPeer, type HangingPeer } from '../support/hanging-peer.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

const appFor = (name: string, storage: Record<string, unknown>, cdn?: Record<string, unknown>) =>
  darkroomAppSchema.parse({ apiVersion: 'darkroom.dev/v1alpha1', kind: 'DarkroomApp', metadata: { name }, spec: { storage: { provider: 's3', bucket: 'bkt', ...storage }, ...(cdn ? { cdn } : {}) } });

describe('storage providers', () => {
  let peer: HangingPeer;
  beforeAll(async () => {
    peer = await startHangingPeer({ kind: 'slow', delayMs: 0 });
  });
  afterAll(() => peer?.close());

  /** Reads once through the app's provider, leaving a keep-alive socket in its pool. */
  async function readOnce(provider: StorageProvider): Promise<void> {
    const object = await provider.openRead('k.jpg');
    for await (const chunk of object.body as AsyncIterable<Buffer>) void chunk;
  }

  it('a replaced provider closes its client after the grace period, a dropped one too, and close() closes the rest at once', async () => {
    process.env.AWS_ACCESS_KEY_ID ??= 'leak-test-key';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'leak-test-secret';
    const graceMs = 150;
    const providers = new CachedStorageProviders({ s3: buildS3StorageProvider }, { s3Endpoint: peer.endpoint }, { closeGraceMs: graceMs });
    const first = providers.forApp(appFor('one', { region: 'us-east-1' }));
    await readOnce(first);
    expect(peer.open).toBe(1);
    const closedBefore = peer.closedByClient;

    // A new spec: a new provider; the old one's socket stays for the reads still streaming…
    const second = providers.forApp(appFor('one', { region: 'us-east-1', prefix: 'new/' }));
    expect(second).not.toBe(first);
    await readOnce(second);
    expect(peer.closedByClient).toBe(closedBefore);
    // …and closes once the grace period is over.
    await peer.waitForClientCloses(closedBefore + 1, graceMs + 1_000);

    // Dropped from the snapshot: closed after the grace period as well.
    providers.retain(new Set());
    await peer.waitForClientCloses(closedBefore + 2, graceMs + 1_000);

    const third = providers.forApp(appFor('two', { region: 'us-east-1' }));
    await readOnce(third);
    providers.close();
    await peer.waitForClientCloses(closedBefore + 3, 1_000);
    expect(peer.open).toBe(0);
  });
});

describe('a start that fails', () => {
  let redis: TestRedisServer | undefined;
  let directory: string | undefined;
  beforeAll(async () => {
    redis = await startRedisServer();
    directory = await mkdtemp(join(tmpdir(), 'darkroom-leaks-'));
  });
  afterAll(async () => {
    await redis?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('releases the Redis connection (the config source could not produce a first snapshot)', async () => {
    // An apps file that is not there: the file source cannot produce its first snapshot.
    const appsFile = join(directory!, 'missing.yaml');
    const url = redis!.url;
    const observer = new Redis(url);
    const connected = async () => Number(/connected_clients:(\d+)/.exec(await observer.info('clients'))?.[1]);
    try {
      const before = await connected();
      const settings = loadSettings({ PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', DARKROOM_APPS_FILE: appsFile, REDIS_URL: url, LOG_LEVEL: 'silent' });
      const started = startDarkroom(settings, { logger: createLogger('silent') });
      await expect(started).rejects.toBeDefined();
      await expect.poll(connected, { timeout: 2_000, interval: 20 }).toBe(before);
    } finally {
      observer.disconnect();
    }
  });
});

describe('a CDN reply that arrives after the breaker gave up on it', () => {
  /** A CDN whose reply comes later than opossum's backstop (an event loop too busy to run the per-call deadline). */
  class LateCdnClient extends CdnClient {
    readonly bodies: PassThrough[] = [];
    override async request(): Promise<CdnResponse> {
      await new Promise((resolve) => setTimeout(resolve, 100 + breakerTimeoutMarginMs + 200));
      const body = new PassThrough();
      this.bodies.push(body);
      return { statusCode: 200, headers: { 'content-type': 'image/jpeg', 'content-length': '3' }, body };
    }
  }

  it('has its body destroyed on arrival, so its socket does not wait for the idle timeout', async () => {
    const client = new LateCdnClient();
    const metrics = new DarkroomMetrics({ defaultMetrics: false });
    const cdns = new CdnBreakers(client, metrics, createLogger('silent'));
    const stored = new PassThrough();
    const storage = {
      forApp: () => ({
        presignUpload: () => Promise.reject(new Error('unused')),
        head: () => Promise.reject(new Error('unused')),
        put: () => Promise.reject(new Error('unused')),
        openRead: async () => ({ body: stored.end(Buffer.from([0xff, 0xd8, 0xff])), contentType: 'image/jpeg', contentLength: 3, etag: '"s"', lastModified: undefined }),
        close: () => undefined,
      }),
    };
    const reader = new ImageReader({ storage, metrics, cdns });
    const app = appFor('late', {}, { url: 'http://127.0.0.1:1', timeoutMs: 100 });
    const result = await reader.read(app, { method: 'GET', objectKey: 'k.jpg', range: undefined, preconditions: {}, signal: new AbortController().signal });
    expect(result.source).toBe('storage');
    const [timeouts] = (await metrics.cdnFallbacks.get()).values.filter((value) => value.labels.reason === 'timeout');
    expect(timeouts?.value).toBe(1);
    await expect.poll(() => client.bodies.length, { timeout: 2_000, interval: 10 }).toBe(1);
    expect(client.bodies[0]?.destroyed).toBe(true);
    cdns.close();
  });
});
