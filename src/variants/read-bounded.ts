/**
 * Reads a stream into one buffer, refusing (IMAGE_NOT_TRANSFORMABLE) past `maxBytes` so that a
 * huge original cannot take the pod's memory: transforms need the whole input (libvips decodes
 * from a buffer), so the bound is on what is buffered, per transform slot.
 *
 * When the length is announced (Content-Length), the bytes are copied into one buffer of that
 * size as they arrive, instead of keeping every chunk until the end and copying them all into a
 * second buffer: one original's worth of memory at the peak, not two. A body that ends short of
 * its announced length, or runs past it, is a failed read, not an image.
 *
 * The buffer returned owns its memory (never a slice of Node's shared pool), so that
 * {@link releaseBuffer} can free it as soon as the transform is done with it. Left to the
 * garbage collector, buffered originals eat into V8's old-generation headroom and set off full
 * collections of the whole heap (0.13 to 0.20 per miss in bench/variants.ts, which prints them),
 * and what is not yet collected after a burst of misses stays in the pod's RSS.
 */
import type { Readable } from 'node:stream';
import { darkroomError } from '../core/errors.js';

export async function readBounded(body: Readable, maxBytes: number, announcedLength?: number): Promise<Buffer> {
  try {
    if (announcedLength !== undefined && announcedLength > maxBytes) throw overLimit(maxBytes);
    return announcedLength !== undefined ? await readInto(body, Buffer.allocUnsafeSlow(announcedLength)) : await readChunks(body, maxBytes);
  } finally {
    body.destroy();
  }
}

async function readInto(body: Readable, target: Buffer): Promise<Buffer> {
  let length = 0;
  for await (const chunk of body) {
    const bytes = asBuffer(chunk);
    if (length + bytes.length > target.length) throw new Error(`body longer than its announced ${target.length} bytes`);
    bytes.copy(target, length);
    length += bytes.length;
  }
  if (length !== target.length) throw new Error(`body ended after ${length} of its announced ${target.length} bytes`);
  return target;
}

async function readChunks(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    const bytes = asBuffer(chunk);
    length += bytes.length;
    if (length > maxBytes) throw overLimit(maxBytes);
    chunks.push(bytes);
  }
  const whole = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(whole, offset);
  return whole;
}

/**
 * Frees a buffer from {@link readBounded} now (its ArrayBuffer is detached: any later read of it
 * sees zero bytes). Only for a buffer nothing else reads any more, e.g. once sharp has settled.
 */
export function releaseBuffer(buffer: Buffer): void {
  // A view on part of a larger ArrayBuffer shares it with others: never detach that.
  if (buffer.byteOffset !== 0 || buffer.byteLength !== buffer.buffer.byteLength || !(buffer.buffer instanceof ArrayBuffer)) return;
  buffer.buffer.transfer(0);
}

function asBuffer(chunk: unknown): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
}

function overLimit(maxBytes: number): Error {
  return darkroomError('IMAGE_NOT_TRANSFORMABLE', { cause: new Error(`original over ${maxBytes} bytes`) });
}
