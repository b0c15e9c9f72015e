/**
 * Keeps a list/watch session running: restarts it after any failure with capped, jittered
 * backoff (one loop, so restarts cannot pile up), and rebuilds it — dropping the resourceVersion,
 * so the next session re-lists — when nothing at all has arrived for `staleAfterMs` (the backstop
 * the client-node maintainers suggest for silently stuck watches, client-node#596).
 *
 * The backoff starts over once a session is healthy again: on any event (list, change, bookmark),
 * and when a failing session had kept its watch connection open for `healthyAfterMs`. Without the
 * second rule a quiet watch that is cut now and then (no event in between) would climb to the cap
 * and a change made during such a gap would wait for tens of seconds.
 */
import type { Logger } from 'pino';
import { sleep, type Backoff } from './backoff.js';

/** Options of {@link WatchSupervisor}. */
export interface WatchSupervisorOptions {
  /** One session: resolves when its signal aborts, rejects on failure. */
  readonly run: (signal: AbortSignal) => Promise<void>;
  readonly backoff: Backoff;
  /** Unix time in ms of the last sign of life from the API server. */
  readonly lastAlive: () => number;
  /** Rebuild when nothing arrived for this long, in ms. */
  readonly staleAfterMs: number;
  /** A watch connection open this long counts as healthy: its failure restarts after the shortest delay, in ms. */
  readonly healthyAfterMs: number;
  /** Called before each restart (metrics); `rebuild` is true for a stale rebuild. */
  readonly onRestart: (error: unknown, delayMs: number, rebuild: boolean) => void;
  readonly logger: Logger;
}

/** Reported for a session that was stopped because it went stale. */
class WatchStaleError extends Error {
  constructor(ms: number) {
    super(`nothing arrived from the Kubernetes API for ${ms} ms; rebuilding the watch`);
    this.name = 'WatchStaleError';
  }
}

export class WatchSupervisor {
  readonly #options: WatchSupervisorOptions;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** When the current session's watch connection opened (0: not open). */
  #connectedAt = 0;

  constructor(options: WatchSupervisorOptions) {
    this.#options = options;
  }

  /** Starts the loop (idempotent). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** A session made progress: the next failure starts from the shortest delay again. */
  progressed(): void {
    this.#options.backoff.reset();
  }

  /** The session's watch connection opened (its response headers arrived). */
  connected(): void {
    this.#connectedAt = Date.now();
  }

  /** Stops the session and the loop; resolves when both have ended. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { backoff, logger, staleAfterMs } = this.#options;
    while (!this.#stop.signal.aborted) {
      const session = new AbortController();
      const forwardStop = () => session.abort();
      this.#stop.signal.addEventListener('abort', forwardStop, { once: true });
      let stale = false;
      const startedAt = Date.now();
      this.#connectedAt = 0;
      // Measured from the later of the last sign of life and this session's start, so that after a
      // long outage a fresh session gets its full allowance before it counts as stale.
      const staleCheck = setInterval(() => {
        if (Date.now() - Math.max(startedAt, this.#options.lastAlive()) > staleAfterMs) {
          stale = true;
          session.abort();
        }
      }, Math.max(10, Math.min(1_000, staleAfterMs / 4)));
      let error: unknown;
      try {
        await this.#options.run(session.signal);
      } catch (caught) {
        error = caught;
      } finally {
        clearInterval(staleCheck);
        this.#stop.signal.removeEventListener('abort', forwardStop);
        session.abort();
      }
      if (this.#stop.signal.aborted) break;
      if (stale) error = new WatchStaleError(staleAfterMs);
      if (this.#connectedAt > 0 && Date.now() - this.#connectedAt >= this.#options.healthyAfterMs) backoff.reset();
      const delayMs = backoff.next();
      this.#options.onRestart(error, delayMs, stale);
      logger.warn({ err: error, delayMs }, 'DarkroomApp watch failed; restarting after backoff (last known apps keep serving)');
      await sleep(delayMs, this.#stop.signal);
    }
  }
}
