/** Buffering an original for a transform: the size bound, the announced length, and freeing the buffer. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isDarkroomError } from '../../src/core/errors.js';
import { readBounded, releaseBuffer } from '../../src/variants/read-bounded.js';

const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, index) => index % 251));

/** A body of `source` in chunks of `size` bytes, as a socket would deliver it. */
function chunked(source: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < source.length; offset += size) chunks.push(source.subarray(offset, offset + size));
  return Readable.from(chunks, { objectMode: false });
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('readBounded', () => {
  it('reads a body of its announced length into one buffer of that length', async () => {
    const body = chunked(bytes, 1_024);
    const read = await readBounded(body, 1 << 20, bytes.length);
    expect(read.equals(bytes)).toBe(true);
    expect(read.buffer.byteLength).toBe(bytes.length);
    expect(body.destroyed).toBe(true);
  });

  it('reads a body of unknown length into a buffer of its own', async () => {
    const read = await readBounded(chunked(bytes, 999), 1 << 20);
    expect(read.equals(bytes)).toBe(true);
    // Not a view on Node's shared pool or on a chunk: releasable.
    expect(read.byteOffset).toBe(0);
    expect(read.buffer.byteLength).toBe(bytes.length);
  });

  it('reads a small body into a buffer of its own too (never a slice of the pool)', async () => {
    const small = bytes.subarray(0, 100);
    for (const announced of [undefined, small.length]) {
      const read = await readBounded(chunked(small, 30), 1 << 20, announced);
      expect(read.equals(small)).toBe(true);
      expect(read.buffer.byteLength).toBe(small.length);
    }
  });

  it('refuses a body over the limit, announced or not, as IMAGE_NOT_TRANSFORMABLE', async () => {
    for (const announced of [undefined, bytes.length]) {
      const body = chunked(bytes, 1_024);
      const error = await failure(readBounded(body, bytes.length - 1, announced));
      expect(isDarkroomError(error) && error.code).toBe('IMAGE_NOT_TRANSFORMABLE');
      expect(body.destroyed).toBe(true);
    }
  });

  it('fails a body that ends before its announced length', async () => {
    const error = await failure(readBounded(chunked(bytes.subarray(0, 6_000), 1_024), 1 << 20, bytes.length));
    expect(error).toBeInstanceOf(Error);
    expect(isDarkroomError(error)).toBe(false);
    expect((error as Error).message).toMatch(/ended after 6000 of its announced 10000 bytes/);
  });

  it('fails a body that runs past its announced length', async () => {
    const body = chunked(bytes, 1_024);
    const error = await failure(readBounded(body, 1 << 20, 5_000));
    expect((error as Error).message).toMatch(/longer than its announced 5000 bytes/);
    expect(body.destroyed).toBe(true);
  });

  it('passes on the error of a body that fails mid-way', async () => {
    const body = new Readable({ read() {} });
    body.push(bytes.subarray(0, 100));
    setImmediate(() => body.destroy(new Error('connection reset')));
    const error = await failure(readBounded(body, 1 << 20, bytes.length));
    expect((error as Error).message).toBe('connection reset');
  });
});

describe('releaseBuffer', () => {
  it('frees a buffer read by readBounded at once', async () => {
    const read = await readBounded(chunked(bytes, 1_024), 1 << 20, bytes.length);
    releaseBuffer(read);
    expect(read.buffer.byteLength).toBe(0);
    expect(read.length).toBe(0);
  });

  it('leaves a view on a shared ArrayBuffer alone', () => {
    const pooled = Buffer.from('a few bytes from the pool');
    const slice = bytes.subarray(10, 20);
    releaseBuffer(pooled);
    releaseBuffer(slice);
    expect(pooled.toString()).toBe('a few bytes from the pool');
    expect(slice.length).toBe(10);
    expect(bytes.length).toBe(10_000);
  });
});
