/**
 * Capped exponential backoff with jitter, for restarting the watch and retrying status writes.
 * Restart loops without it have flooded API servers (kubernetes-client/javascript#1933); jitter
 * keeps many replicas that lost the API server at once from coming back in lock-step.
 */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First delay in ms. Default 500. */
  readonly initialMs?: number;
  /** Largest delay in ms. Default 30 000. */
  readonly maxMs?: number;
  /** Growth per attempt. Default 2. */
  readonly factor?: number;
  /** Fraction of each delay that is random (0 = none, 1 = "full jitter"). Default 0.5. */
  readonly jitter?: number;
  /** Source of randomness in [0, 1); injectable for tests. Default Math.random. */
  readonly random?: () => number;
}

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 500;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 0.5;
    this.#random = options.random ?? Math.random;
  }

  /** The delay before the next attempt, in ms; each call grows the next one up to the cap. */
  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * this.#factor ** this.#attempt);
    this.#attempt += 1;
    return Math.round(ceiling * (1 - this.#jitter * this.#random()));
  }

  /** Back to the first delay (after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
