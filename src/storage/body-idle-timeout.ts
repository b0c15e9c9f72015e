/**
 * An idle timeout on a response body: cut it when the upstream sends nothing for `idleMs`.
 *
 * The S3 SDK's `requestTimeout` is a socket timeout that ends with the response headers, so a
 * storage service that sends headers and then stalls the body would hold the read (and its socket)
 * until the client gives up. A consumer that is slow is not the upstream's fault: while bytes wait
 * in the stream's buffer (backpressure), the timer only re-arms. An empty buffer means there was
 * room for `idleMs` and the upstream sent nothing.
 */
import type { Readable } from 'node:stream';

/** Watches `body` and destroys it with an error after `idleMs` without a chunk from upstream. */
export function cutWhenIdle(body: Readable, idleMs: number, what: string): void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onIdle, idleMs);
  };
  const onIdle = (): void => {
    // Bytes are waiting for the consumer: the upstream is not the slow side.
    if (body.readableLength > 0) return arm();
    body.destroy(new Error(`${what}: no data for ${idleMs} ms`));
  };
  const stop = (): void => {
    clearTimeout(timer);
    body.off('data', arm);
  };
  body.on('data', arm);
  body.once('end', stop);
  body.once('close', stop);
  arm();
}
