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
import type { PresignedUpload, StorageProvider } from '../../src/storage/storage-provider.js';

/** A provider on a running storage service, and one of the same kind whose service is down. */
export interface ContractSubject {
  /** Signs and reads in a bucket that exists and is writable through signed URLs. */
  readonly provider: StorageProvider;
  /** Same kind of provider, pointed at an endpoint where nothing listens. */
  readonly unavailable: StorageProvider;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** Shown in the test names, e.g. `s3 (embedded s3rver)`. */
  readonly name: string;
  start(): Promise<ContractSubject>;
}

/** Upper bound for "storage down" to become STORAGE_UNAVAILABLE: a bounded failure, not a hang. */
export const unavailableWithinMs = 10_000;

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
