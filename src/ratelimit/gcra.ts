/**
 * The Generic Cell Rate Algorithm, as pure arithmetic over one number per key: the theoretical
 * arrival time (TAT). Chosen over fixed windows because it has no boundary burst (a fixed window
 * admits 2× the limit across a boundary) and over a sliding log because it keeps O(1) state per
 * owner. A limit of N per W seconds allows a burst of N, then one request every W/N seconds.
 * The Redis limiter runs the same arithmetic in a Lua script.
 */
import type { RateLimit, RateLimitDecision } from './rate-limiter.js';

/** The decision and the state to store (undefined when nothing changes). */
export interface GcraOutcome {
  readonly decision: RateLimitDecision;
  /** New TAT in ms to store, or undefined when the request was refused. */
  readonly newTatMs: number | undefined;
}

/** Decides one request at `nowMs` given the stored TAT (undefined for an unseen key). */
export function gcra(storedTatMs: number | undefined, nowMs: number, limit: RateLimit): GcraOutcome {
  const windowMs = limit.windowSeconds * 1000;
  const intervalMs = windowMs / limit.requests;
  // A window rarely divides evenly by the limit (3 600 000 / 7 = 514.285714… ms), so N added
  // intervals can land a few ULPs past the window and refuse the Nth request of a burst. This
  // slack absorbs that rounding; under half a millisecond, it never moves a whole-ms boundary.
  const slackMs = Math.min(intervalMs / 1000, 0.5);
  const tat = Math.max(storedTatMs ?? nowMs, nowMs);
  const newTat = tat + intervalMs;
  const allowAt = newTat - windowMs;
  if (allowAt - nowMs > slackMs) {
    return {
      decision: {
        allowed: false,
        remaining: 0,
        retryAfterSeconds: Math.max(1, Math.ceil((allowAt - nowMs) / 1000)),
        resetSeconds: Math.ceil((tat - nowMs) / 1000),
        limit,
      },
      newTatMs: undefined,
    };
  }
  return {
    decision: {
      allowed: true,
      remaining: Math.floor((nowMs - allowAt + slackMs) / intervalMs),
      retryAfterSeconds: 0,
      resetSeconds: Math.ceil((newTat - nowMs) / 1000),
      limit,
    },
    newTatMs: newTat,
  };
}
