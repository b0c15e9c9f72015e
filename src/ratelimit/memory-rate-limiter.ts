/**
 * In-process rate limiting: correct for one replica, per-replica when there are several (shared
 * limits need the Redis limiter). State is one number per active owner; entries whose TAT has
 * passed carry no information and are swept, and a hard cap bounds memory under a flood of owners.
 */
import { gcra } from './gcra.js';
import type { RateLimit, RateLimitDecision, RateLimiter } from './rate-limiter.js';

/** Options of the in-memory limiter. */
export interface MemoryRateLimiterOptions {
  /** Clock in ms; tests pass a fake one. Default `Date.now`. */
  readonly now?: () => number;
  /** Most keys kept; past it the oldest are dropped (which only ever errs towards admitting). Default 1 000 000. */
  readonly maxKeys?: number;
}

/** How often stale entries are swept, in ms. */
const sweepIntervalMs = 60_000;

export class MemoryRateLimiter implements RateLimiter {
  readonly #tats = new Map<string, number>();
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryRateLimiterOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 1_000_000;
    this.#sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.#sweeper.unref();
  }

  async consume(app: string, owner: string, limit: RateLimit): Promise<RateLimitDecision> {
    return this.consumeSync(app, owner, limit);
  }

  /** The same decision, synchronously (the Redis limiter's degraded mode uses it). */
  consumeSync(app: string, owner: string, limit: RateLimit): RateLimitDecision {
    const key = `${app}\u0000${owner}`;
    const { decision, newTatMs } = gcra(this.#tats.get(key), this.#now(), limit);
    if (newTatMs !== undefined) {
      // Delete first so the Map's insertion order stays "least recently admitted first".
      this.#tats.delete(key);
      this.#tats.set(key, newTatMs);
      if (this.#tats.size > this.#maxKeys) {
        const oldest = this.#tats.keys().next();
        if (!oldest.done) this.#tats.delete(oldest.value);
      }
    }
    return decision;
  }

  /** Drops entries whose TAT is in the past: an unseen key decides the same way. */
  sweep(): void {
    const now = this.#now();
    for (const [key, tat] of this.#tats) if (tat <= now) this.#tats.delete(key);
  }

  /** Number of owners with state, for tests and metrics. */
  get size(): number {
    return this.#tats.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }
}
