/**
 * Reads a stream into one buffer, refusing (IMAGE_NOT_TRANSFORMABLE) past `maxBytes` so that a
 * huge original cannot take the pod's memory: transforms need the whole input (libvips decodes
 * from a buffer), so the bound is on what is buffered, per transform slot.
 */
import type { Readable } from 'node:stream';
import { darkroomError } from '../core/errors.js';

export async function readBounded(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      length += bytes.length;
      if (length > maxBytes) throw darkroomError('IMAGE_NOT_TRANSFORMABLE', { cause: new Error(`original over ${maxBytes} bytes`) });
      chunks.push(bytes);
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks, length);
}
