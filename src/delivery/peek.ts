/**
 * Looking at the first bytes of a stream without consuming them and without buffering the rest:
 * the signature check reads a dozen bytes, then puts them back for the response to stream.
 */
import type { Readable } from 'node:stream';

/**
 * Reads until `length` bytes (or the end) are buffered, puts them back with `unshift`, and returns
 * them. The stream stays paused, ready to be piped.
 */
export async function peekBytes(stream: Readable, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < length) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      size += chunk.length;
      continue;
    }
    if (stream.errored) throw stream.errored;
    if (stream.readableEnded || stream.destroyed) break;
    await nextEvent(stream);
  }
  // Usually the first chunk (tens of KiB) holds the prefix: put it back as it is, never copy it.
  const head = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
  if (size > 0) stream.unshift(head);
  return head.subarray(0, length);
}

function nextEvent(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onReadable = (): void => done();
    const onEnd = (): void => done();
    const onError = (error: Error): void => done(error);
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onError);
  });
}
