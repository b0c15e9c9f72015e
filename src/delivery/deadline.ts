/**
 * A deadline for the part of an upstream request that waits for response headers. It aborts the
 * request when the time is up or the client leaves, and is disarmed once the headers are in, so
 * that a large body streamed to a slow client is never cut by it (the body has its own idle
 * timeout). Unlike opossum's shared `abortController`, each call gets its own (opossum#780).
 */
export interface Deadline {
  /** Pass to the upstream request; stays tied to the client's signal after `disarm()`. */
  readonly signal: AbortSignal;
  /** True once the timer fired. */
  readonly timedOut: boolean;
  /** The headers arrived: stop the timer. */
  readonly disarm: () => void;
  /** The request is over: stop the timer and let go of the client's signal. */
  readonly release: () => void;
}

/** Starts a deadline of `timeoutMs` milliseconds linked to `clientSignal`. */
export function startDeadline(timeoutMs: number, clientSignal: AbortSignal): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const onClientAbort = (): void => controller.abort(clientSignal.reason);
  if (clientSignal.aborted) controller.abort(clientSignal.reason);
  else clientSignal.addEventListener('abort', onClientAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no response headers within ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs);
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    disarm: () => clearTimeout(timer),
    release: () => {
      clearTimeout(timer);
      clientSignal.removeEventListener('abort', onClientAbort);
    },
  };
}
