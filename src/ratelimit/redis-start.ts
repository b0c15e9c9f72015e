/**
 * Starts the shared limiter from settings: the fail-fast client, the limiter around it, and a
 * bounded first connection. darkroom starts even when Redis does not answer (degraded, logged,
 * reconnecting in the background): Redis is never a reason to stay down or unready.
 */
import type { Logger } from 'pino';
import type { DarkroomMetrics } from '../metrics/metrics.js';
import { createRedisClient, redactRedisUrl } from './redis-client.js';
import { RedisRateLimiter, type RedisFailureMode } from './redis-rate-limiter.js';

/** What `startRedisRateLimiter` needs. */
export interface RedisRateLimiterSettings {
  /** `REDIS_URL`. */
  readonly url: string;
  /** `DARKROOM_RATELIMIT_REDIS_FAILURE_MODE`. */
  readonly failureMode: RedisFailureMode;
  /** `DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS`. */
  readonly commandTimeoutMs: number;
}

/** Longest wait for the first connection at start, in ms. */
const startTimeoutMs = 2_000;

export async function startRedisRateLimiter(
  settings: RedisRateLimiterSettings,
  metrics: DarkroomMetrics,
  logger: Logger,
): Promise<RedisRateLimiter> {
  const redis = createRedisClient({ url: settings.url, connectTimeoutMs: startTimeoutMs });
  const limiter = new RedisRateLimiter({
    redis,
    metrics,
    logger,
    failureMode: settings.failureMode,
    commandTimeoutMs: settings.commandTimeoutMs,
  });
  metrics.rateLimitDegraded.set(0);
  const connected = await limiter.connect(startTimeoutMs);
  logger.info(
    { redis: redactRedisUrl(settings.url), connected, failureMode: settings.failureMode, commandTimeoutMs: settings.commandTimeoutMs },
    'rate limits shared through Redis',
  );
  return limiter;
}
