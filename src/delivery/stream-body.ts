/**
 * Streams an upstream body into the response with backpressure (`pipe` pauses the source while the
 * client's socket is full), and tears both down together: a failing source cuts the response, a
 * response closed early (the client left) destroys the source, which aborts its request.
 *
 * Not `stream.pipeline`: it allocates and aborts an AbortController (a DOMException) for every
 * stream it finishes, which measured as 5 % of darkroom's CPU on 100 KB reads.
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** Resolves when the response has been fully handed to the OS; rejects when either side failed or the client left. */
export function streamBody(body: Readable, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanUp = (): void => {
      body.off('error', onSourceError);
      res.off('finish', onFinish);
      res.off('close', onClose);
      res.off('error', onClose);
    };
    const onSourceError = (error: Error): void => {
      cleanUp();
      res.destroy(error);
      reject(error);
    };
    const onFinish = (): void => {
      cleanUp();
      resolve();
    };
    const onClose = (): void => {
      if (res.writableFinished) return onFinish();
      cleanUp();
      body.unpipe(res);
      body.destroy();
      reject(new Error('the response closed before the body was sent'));
    };
    body.once('error', onSourceError);
    res.once('finish', onFinish);
    res.once('close', onClose);
    res.once('error', onClose);
    body.pipe(res);
  });
}
