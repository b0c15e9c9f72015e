/**
 * RateLimit and RateLimit-Policy response headers, in the structured-field form of the IETF
 * httpapi draft "RateLimit header fields for HTTP": `RateLimit-Policy: "upload";q=60;w=60` and
 * `RateLimit: "upload";r=59;t=1` (q quota, w window, r remaining, t seconds to reset).
 */
import type { RateLimitDecision } from './rate-limiter.js';

const policyName = '"upload"';

export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  return {
    'RateLimit-Policy': `${policyName};q=${decision.limit.requests};w=${decision.limit.windowSeconds}`,
    RateLimit: `${policyName};r=${decision.remaining};t=${decision.resetSeconds}`,
  };
}
