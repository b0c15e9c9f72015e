/**
 * An idle timeout on a response body: cut it when the upstream sends nothing for `idleMs`.
 *
 * The S3 SDK's `requestTimeout` is a socket timeout that ends with the response headers, so a
 * storage service that sends headers and then stalls the body would hold the read (and its socket)
 * until the client gives up. Arrivals are watched on the socket, not on the body: a 'data'
 * listener on the body would switch it to flowing mode and lose the bytes its consumer has not
 * yet asked for. A consumer that is slow is not the upstream's fault: while bytes wait in the
 * body's buffer (backpressure), the timer only re-arms; an empty buffer means there was room for
 * `idleMs` and the upstream sent nothing.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** Watches `body` (an `http.IncomingMessage`) and destroys it with an error after `idleMs` without bytes from upstream. */
export function cutWhenIdle(body: Readable, idleMs: number, what: string): void {
  const socket = (body as { socket?: Socket | null }).socket;
  if (!socket) return;
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
    // The socket goes back to the keep-alive pool; it must not carry this body's watcher along.
    socket.off('data', arm);
  };
  socket.on('data', arm);
  body.once('end', stop);
  body.once('close', stop);
  arm();
}
