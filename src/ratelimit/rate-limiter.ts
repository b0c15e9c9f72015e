/**
 * The rate-limiter contract: one decision per upload request, keyed by app and owner, with the
 * limit taken from the app's spec at call time (so a changed spec applies without a restart).
 */

/** A limit: `requests` per `windowSeconds`. */
export interface RateLimit {
  readonly requests: number;
  readonly windowSeconds: number;
}

/** The outcome of one decision. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Requests still allowed right now after this one. */
  readonly remaining: number;
  /** Seconds until a refused request may succeed (0 when allowed). */
  readonly retryAfterSeconds: number;
  /** Seconds until the quota is whole again. */
  readonly resetSeconds: number;
  readonly limit: RateLimit;
}

export interface RateLimiter {
  /** Counts one request for `app`/`owner` against `limit` and says whether it may proceed. */
  consume(app: string, owner: string, limit: RateLimit): Promise<RateLimitDecision>;
  /** Releases timers and connections. */
  close(): Promise<void>;
}
