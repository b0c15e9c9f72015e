/**
 * The storage contract every provider must pass, written once (tus-node-server keeps its store
 * assertions the same way). A provider's test file calls `describeStorageProviderContract` with a
 * way to start its storage service; the assertions go through the provider's public contract and
 * a client's PUT to the returned URL with exactly the returned headers, nothing provider-specific.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDarkroomError } from '../../src/core/errors.js';
import type { SourceRequest } from '../../src/delivery/image-source.js';
import { StorageSource } from '../../src/delivery/storage-source.js';
import type { PresignedUpload, StorageProvider } from '../../src/storage/storage-provider.js';
import { startHangingPeer, type HangingPeer } from '../support/hanging-peer.js';

/** A provider on a running storage service, and one of the same kind whose service is down. */
export interface ContractSubject {
  /** Signs and reads in a bucket that exists and is writable through signed URLs. */
  readonly provider: StorageProvider;
  /** Same kind of provider, pointed at an endpoint where nothing listens. */
  readonly unavailable: StorageProvider;
  /**
   * Same kind of provider on `endpoint` (a misbehaving peer), with a body idle timeout of
   * `bodyIdleTimeoutMs` instead of the production 15 s, so a stalled body is cut within a test.
   */
  at(endpoint: string, bodyIdleTimeoutMs: number): StorageProvider;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** Shown in the test names, e.g. `s3 (embedded s3rver)`. */
  readonly name: string;
  start(): Promise<ContractSubject>;
}

/** Upper bound for "storage down" to become STORAGE_UNAVAILABLE: a bounded failure, not a hang. */
export const unavailableWithinMs = 10_000;

/**
 * The read path's storage deadline (time to response headers) for the hanging-peer cases: the
 * production value is 10 s (`StorageSource`); it is a parameter, and the cases check the bound
 * holds whatever its value, so they run with a short one.
 */
const deadlineMs = 800;
/** The body idle timeout for the same cases (production: 15 s). */
const bodyIdleMs = 600;
/** Slack for timers and the event loop on a shared machine. */
const slackMs = 1_500;

/** The four ways the read path asks storage, as `StorageSource` requests. */
const operations: Record<string, Omit<SourceRequest, 'signal' | 'objectKey'>> = {
  get: { method: 'GET', range: undefined, preconditions: {} },
  head: { method: 'HEAD', range: undefined, preconditions: {} },
  range: { method: 'GET', range: { kind: 'from', first: 100, last: 199 }, preconditions: {} },
  conditional: { method: 'GET', range: undefined, preconditions: { ifNoneMatch: '"some-other-etag"' } },
};

/** Runs `operation` to its end (the reply and all of its body), and says how it ended and when. */
async function runToEnd(source: StorageSource, operation: Omit<SourceRequest, 'signal' | 'objectKey'>, signal: AbortSignal): Promise<{ outcome: string; elapsedMs: number }> {
  const started = Date.now();
  try {
    const reply = await source.read({ ...operation, objectKey: newKey(), signal });
    if (reply.body) await bytesOf(reply.body);
    return { outcome: `ok ${reply.status}`, elapsedMs: Date.now() - started };
  } catch (error) {
    return { outcome: isDarkroomError(error) ? error.code : 'body cut', elapsedMs: Date.now() - started };
  }
}

export function describeStorageProviderContract(options: ContractOptions): void {
  describe(`storage provider contract: ${options.name}`, () => {
    let subject: ContractSubject;

    beforeAll(async () => {
      subject = await options.start();
    });
    afterAll(async () => {
      await subject?.close();
    });

    it('signs a PUT that stores the bytes; head and openRead return them with type, size and ETag', async () => {
      const key = newKey();
      const body = randomBytes(3000);
      const before = Date.now();
      const upload = await subject.provider.presignUpload(request(key, body.length, { maxBytes: 4096, expiresInSeconds: 120 }));
      expect(upload.method).toBe('PUT');
      expect(upload.headers['Content-Type']).toBe('image/png');
      expect(upload.expiresAt.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 120_000);
      expect(upload.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 120_000);
      // Signature dates carry whole seconds, so an exact expiresAt falls on one.
      expect(upload.expiresAt.getTime() % 1000).toBe(0);

      const put = await putWith(upload, body);
      expect(put.status).toBe(200);

      const head = await subject.provider.head(key);
      expect(head).toMatchObject({ contentType: 'image/png', contentLength: body.length });
      expect(head.etag).toMatch(/^".+"$/);
      const read = await subject.provider.openRead(key);
      expect(read).toMatchObject({ contentType: 'image/png', contentLength: body.length, etag: head.etag });
      expect((await bytesOf(read.body)).equals(body)).toBe(true);
    });

    it('reads a byte range: exactly those bytes, with the range\'s length', async () => {
      const key = newKey();
      const body = randomBytes(3000);
      await putWith(await subject.provider.presignUpload(request(key, body.length)), body);
      const middle = await subject.provider.openRead(key, { range: { start: 100, end: 199 } });
      expect(middle).toMatchObject({ contentType: 'image/png', contentLength: 100 });
      expect((await bytesOf(middle.body)).equals(body.subarray(100, 200))).toBe(true);
      const tail = await subject.provider.openRead(key, { range: { start: 2990 } });
      expect(tail.contentLength).toBe(10);
      expect((await bytesOf(tail.body)).equals(body.subarray(2990))).toBe(true);
    });

    it('never overwrites: a second PUT with the same URL fails with 412 and the first object stays', async () => {
      const key = newKey();
      const first = randomBytes(500);
      const upload = await subject.provider.presignUpload(request(key, first.length));
      expect((await putWith(upload, first)).status).toBe(200);
      const second = await putWith(upload, randomBytes(first.length));
      expect(second.status).toBe(412);
      const read = await subject.provider.openRead(key);
      expect((await bytesOf(read.body)).equals(first)).toBe(true);
      // The precondition is signed: a client that drops it is refused, not let through to overwrite.
      const withoutPrecondition = Object.fromEntries(Object.entries(upload.headers).filter(([name]) => !/^(if-none-match|x-goog-if-generation-match)$/i.test(name)));
      expect(Object.keys(withoutPrecondition).length).toBe(Object.keys(upload.headers).length - 1);
      const stripped = await putWith({ ...upload, headers: withoutPrecondition }, randomBytes(first.length));
      expect(stripped.status).toBe(403);
    });

    it('storage refuses a PUT with another Content-Type than the signed one', async () => {
      const key = newKey();
      const body = randomBytes(100);
      const upload = await subject.provider.presignUpload(request(key, body.length));
      const put = await putWith(upload, body, { 'Content-Type': 'text/html' });
      expect(put.status).toBe(403);
      await expect(subject.provider.head(key)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    });

    it('storage refuses a body longer than the signed size limit', async () => {
      const key = newKey();
      const upload = await subject.provider.presignUpload(request(key, 1024, { maxBytes: 1024 }));
      const put = await putWith(upload, randomBytes(1025));
      expect(put.status).toBeGreaterThanOrEqual(400);
      expect(put.status).toBeLessThan(500);
      await expect(subject.provider.head(key)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    });

    it('answers IMAGE_NOT_FOUND for a missing object, on head and on openRead', async () => {
      const key = newKey();
      await expect(subject.provider.head(key)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
      await expect(subject.provider.openRead(key)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    });

    it('puts an object darkroom made: openRead returns its bytes and type; a second put replaces it', async () => {
      const key = `${newKey()}/w640-q80.webp`;
      const body = randomBytes(2000);
      await subject.provider.put({ key, body, contentType: 'image/webp', cacheControl: 'public, max-age=31536000, immutable' });
      const read = await subject.provider.openRead(key);
      expect(read).toMatchObject({ contentType: 'image/webp', contentLength: body.length });
      expect((await bytesOf(read.body)).equals(body)).toBe(true);
      // Two replicas that race write the same variant twice: the second write is not an error.
      const again = randomBytes(1500);
      await subject.provider.put({ key, body: again, contentType: 'image/webp', cacheControl: 'public, max-age=31536000, immutable' });
      const reread = await subject.provider.openRead(key);
      expect((await bytesOf(reread.body)).equals(again)).toBe(true);
    });

    it('answers STORAGE_UNAVAILABLE within a bounded time when storage is down, and still presigns', async () => {
      for (const call of [
        () => subject.unavailable.head(newKey()),
        () => subject.unavailable.openRead(newKey()),
        () => subject.unavailable.put({ key: newKey(), body: Buffer.from('x'), contentType: 'image/png', cacheControl: 'no-cache' }),
      ]) {
        const started = Date.now();
        const error = await call().then(
          () => undefined,
          (failure: unknown) => failure,
        );
        expect(isDarkroomError(error) && error.code).toBe('STORAGE_UNAVAILABLE');
        expect(Date.now() - started).toBeLessThan(unavailableWithinMs);
      }
      // Signing is local work (or IAM's), so uploads can still be authorised while reads fail.
      const upload = await subject.unavailable.presignUpload(request(newKey(), 10));
      expect(upload.url).toMatch(/^https?:\/\//);
    });

    describe('bounded against a peer that hangs (real loopback TCP)', () => {
      let peer: HangingPeer;
      let provider: StorageProvider;
      let source: StorageSource;

      beforeAll(async () => {
        peer = await startHangingPeer({ kind: 'silent' });
        provider = subject.at(peer.endpoint, bodyIdleMs);
        source = new StorageSource(provider, deadlineMs);
      });
      afterAll(async () => {
        provider?.close();
        await peer?.close();
      });

      for (const [name, operation] of Object.entries(operations)) {
        it(`${name}: a peer that accepts and never answers → STORAGE_UNAVAILABLE at the deadline, the request cancelled`, async () => {
          peer.behaviour = { kind: 'silent' };
          const closedBefore = peer.closedByClient;
          const { outcome, elapsedMs } = await runToEnd(source, operation, new AbortController().signal);
          expect(outcome).toBe('STORAGE_UNAVAILABLE');
          expect(elapsedMs).toBeGreaterThanOrEqual(deadlineMs - 50);
          expect(elapsedMs).toBeLessThan(deadlineMs + slackMs);
          await peer.waitForClientCloses(closedBefore + 1, slackMs);
        });

        it(`${name}: a peer that sends headers then stalls the body → the read ends (headers deadline or body idle timeout), the connection closed`, async () => {
          peer.behaviour = { kind: 'stall-body', sentBytes: 1024 };
          const closedBefore = peer.closedByClient;
          const { outcome, elapsedMs } = await runToEnd(source, operation, new AbortController().signal);
          // A HEAD answered with headers is complete; anything with a body is cut (S3 HEAD: no body to stall).
          expect(['STORAGE_UNAVAILABLE', 'body cut', 'ok 200']).toContain(outcome);
          if (outcome !== 'ok 200') await peer.waitForClientCloses(closedBefore + 1, slackMs);
          expect(elapsedMs).toBeLessThan(deadlineMs + bodyIdleMs + slackMs);
        });

        it(`${name}: a peer that answers after twice the deadline → STORAGE_UNAVAILABLE at the deadline; one that answers within it is served`, async () => {
          peer.behaviour = { kind: 'slow', delayMs: 2 * deadlineMs };
          const late = await runToEnd(source, operation, new AbortController().signal);
          expect(late.outcome).toBe('STORAGE_UNAVAILABLE');
          expect(late.elapsedMs).toBeLessThan(deadlineMs + slackMs);
          peer.behaviour = { kind: 'slow', delayMs: 50 };
          const inTime = await runToEnd(source, operation, new AbortController().signal);
          expect(inTime.outcome).toMatch(/^ok (200|206)$/);
        });

        it(`${name}: a client that leaves cancels the storage request (the socket closes at once)`, async () => {
          peer.behaviour = { kind: 'silent' };
          const closedBefore = peer.closedByClient;
          const client = new AbortController();
          setTimeout(() => client.abort(new DOMException('client closed the connection', 'AbortError')), 100);
          const { elapsedMs } = await runToEnd(source, operation, client.signal);
          expect(elapsedMs).toBeLessThan(deadlineMs);
          await peer.waitForClientCloses(closedBefore + 1, deadlineMs);
        });
      }

      it('a client that leaves mid-body cancels the download', async () => {
        peer.behaviour = { kind: 'stall-body', sentBytes: 1024 };
        const closedBefore = peer.closedByClient;
        const client = new AbortController();
        const reply = await source.read({ ...operations.get!, objectKey: newKey(), signal: client.signal });
        expect(reply.status).toBe(200);
        client.abort(new DOMException('client closed the connection', 'AbortError'));
        await expect(bytesOf(reply.body!)).rejects.toBeDefined();
        await peer.waitForClientCloses(closedBefore + 1, deadlineMs);
      });
    });
  });
}

/** A fresh key shaped like darkroom's, under a prefix. */
export function newKey(): string {
  return `contract/${randomUUID().replaceAll('-', '')}-photo.png`;
}

export function request(
  key: string,
  contentLength: number,
  overrides: { maxBytes?: number; expiresInSeconds?: number; contentType?: string } = {},
) {
  return {
    key,
    contentType: overrides.contentType ?? 'image/png',
    contentLength,
    maxBytes: overrides.maxBytes ?? 1024 * 1024,
    expiresInSeconds: overrides.expiresInSeconds ?? 300,
  };
}

/**
 * PUTs `body` to a presigned URL the way a client does: exactly the returned headers (with
 * `overrides` applied). fetch computes Content-Length from the body itself, so a returned
 * Content-Length is not copied; with an honest client both agree.
 */
export async function putWith(upload: PresignedUpload, body: Buffer, overrides: Record<string, string> = {}): Promise<Response> {
  const headers = Object.fromEntries(
    Object.entries({ ...upload.headers, ...overrides }).filter(([name]) => name.toLowerCase() !== 'content-length'),
  );
  const response = await fetch(upload.url, { method: upload.method, headers, body });
  await response.arrayBuffer();
  return response;
}

export async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** An http endpoint on loopback where nothing listens (a port taken and released). */
export async function deadEndpoint(): Promise<string> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
