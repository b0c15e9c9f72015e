/**
 * Starts the shared limiter from settings: the fail-fast client (one Redis, a Cluster or a
 * Sentinel-managed primary), the limiter around it, and a bounded first connection. darkroom
 * starts even when Redis does not answer (degraded, logged, reconnecting in the background):
 * Redis is never a reason to stay down or unready.
 */
import type { Logger } from 'pino';
import type { DarkroomMetrics } from '../metrics/metrics.js';
import type { RedisConnection } from '../config/redis-connection.js';
import { createRedisConnection, describeRedisConnection } from './redis-client.js';
import { RedisRateLimiter, type RedisFailureMode } from './redis-rate-limiter.js';

/** What `startRedisRateLimiter` needs. */
export interface RedisRateLimiterSettings {
  /** `REDIS_URL`, `REDIS_CLUSTER_NODES` or `REDIS_SENTINELS` (with their auth and TLS settings). */
  readonly connection: RedisConnection;
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
  const redis = createRedisConnection(settings.connection, { connectTimeoutMs: startTimeoutMs });
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
    { redis: describeRedisConnection(settings.connection), connected, failureMode: settings.failureMode, commandTimeoutMs: settings.commandTimeoutMs },
    'rate limits shared through Redis',
  );
  return limiter;
}
