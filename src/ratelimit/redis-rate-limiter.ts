/**
 * Per-owner limits shared by every replica, through Redis: one Lua script call per decision (see
 * `redis-gcra-script.ts` for the algorithm and why GCRA).
 *
 * Redis trouble is bounded. The client fails fast (no offline queue, a command timeout of tens of
 * ms); a decision Redis could not make is made by the in-memory limiter instead (failure mode
 * `memory`, the default: each replica then enforces the limit on its own, so the fleet admits up
 * to N × the limit) or refused with RATE_LIMIT_UNAVAILABLE (failure mode `closed`). Entering and
 * leaving that degraded state is logged once each and shown by `darkroom_ratelimit_degraded`;
 * while degraded, Redis is probed at most every `probeIntervalMs`, so a Redis that hangs rather
 * than refuses costs one timeout per interval, not one per request. Every decision Redis did not
 * make counts in `darkroom_ratelimit_backend_errors_total{reason}`. Shared limiting resumes by
 * itself with the first decision Redis makes again.
 *
 * The same holds on a Redis Cluster or a Sentinel-managed primary during a failover. The degraded
 * state belongs to the replica, not to one shard: with its default `cluster-require-full-coverage`
 * a Cluster refuses every slot while one has no primary, so one failed decision stands for all.
 */
import type { Logger } from 'pino';
import { darkroomError } from '../core/errors.js';
import type { DarkroomMetrics } from '../metrics/metrics.js';
import { MemoryRateLimiter } from './memory-rate-limiter.js';
import type { RateLimit, RateLimitDecision, RateLimiter } from './rate-limiter.js';
import { connectRedisClient, type RedisClient } from './redis-client.js';
import { gcraScript, rateLimitKey } from './redis-gcra-script.js';

/** What to do with a decision Redis cannot make. */
export type RedisFailureMode = 'memory' | 'closed';

/** Options of the Redis limiter. */
export interface RedisRateLimiterOptions {
  /**
   * A client built by `createRedisClient` or `createRedisConnection` (fail-fast settings; one
   * Redis, a Cluster or a Sentinel-managed primary); the limiter owns and quits it.
   */
  readonly redis: RedisClient;
  readonly metrics: DarkroomMetrics;
  readonly logger: Logger;
  /** `memory` (default): limit per replica while Redis is unreachable; `closed`: refuse with 503. */
  readonly failureMode?: RedisFailureMode;
  /** While degraded, least time between two attempts to reach Redis, in ms. Default 250. */
  readonly probeIntervalMs?: number;
  /** Longest wait for one decision from Redis, in ms. Default 30. */
  readonly commandTimeoutMs?: number;
}

/** Why a decision did not come from Redis: the `reason` label of `darkroom_ratelimit_backend_errors_total`. */
export type BackendErrorReason = 'timeout' | 'unavailable' | 'error';

type GcraReply = [number, number, number, number];
type ScriptRunner = (key: string, requests: number, windowSeconds: number, now: string) => Promise<GcraReply>;

const commandName = 'darkroomGcra';

export class RedisRateLimiter implements RateLimiter {
  readonly #redis: RedisClient;
  readonly #metrics: DarkroomMetrics;
  readonly #logger: Logger;
  readonly #failureMode: RedisFailureMode;
  /** Decides per replica in `memory` mode. */
  readonly #fallback: MemoryRateLimiter;
  readonly #probeIntervalMs: number;
  readonly #runScript: ScriptRunner;
  readonly #commandTimeoutMs: number;
  #degraded = false;
  #degradedReason: BackendErrorReason = 'unavailable';
  #probing = false;
  #nextProbeAt = 0;
  #closed = false;

  constructor(options: RedisRateLimiterOptions) {
    this.#redis = options.redis;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#failureMode = options.failureMode ?? 'memory';
    this.#fallback = new MemoryRateLimiter();
    this.#probeIntervalMs = options.probeIntervalMs ?? 250;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 30;
    // defineCommand sends EVAL on each new connection (a new node after a failover included) and
    // EVALSHA after that, and EVAL again after NOSCRIPT (a restarted, empty Redis).
    this.#redis.defineCommand(commandName, { numberOfKeys: 1, lua: gcraScript });
    const redis = this.#redis as unknown as Record<string, ScriptRunner>;
    this.#runScript = (...args) => redis[commandName]!.apply(this.#redis, args);
    // Connection errors repeat on every reconnect attempt; they are reported through the
    // degraded transition, not one log line each. Without a listener ioredis prints them itself.
    this.#redis.on('error', (error: Error) => this.#logger.debug({ error: safeError(error) }, 'redis connection error'));
    this.#redis.on('close', () => this.#enterDegraded('unavailable'));
    // Back online: let the next request try Redis at once rather than at the next probe slot.
    this.#redis.on('ready', () => {
      this.#nextProbeAt = 0;
    });
  }

  /**
   * Connects, waiting at most `timeoutMs`. Resolves true when Redis answered; false means darkroom
   * starts degraded and keeps reconnecting in the background.
   */
  async connect(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const connected = connectRedisClient(this.#redis).then(
      () => true,
      () => false,
    );
    const ok = await Promise.race([connected, timeout]);
    clearTimeout(timer);
    if (!ok) this.#enterDegraded('unavailable');
    return ok;
  }

  /** True while decisions do not come from Redis. */
  get degraded(): boolean {
    return this.#degraded;
  }

  async consume(app: string, owner: string, limit: RateLimit): Promise<RateLimitDecision> {
    return this.decide(app, owner, limit);
  }

  /** The decision, with `nowMs` overriding Redis's clock (tests of the arithmetic). */
  async decide(app: string, owner: string, limit: RateLimit, nowMs?: number): Promise<RateLimitDecision> {
    const probe = this.#degraded;
    if (probe) {
      const now = Date.now();
      if (this.#probing || now < this.#nextProbeAt) {
        // Every decision Redis did not make is counted, under the reason that put us here.
        this.#metrics.rateLimitBackendErrors.inc({ reason: this.#degradedReason });
        return this.#withoutRedis(app, owner, limit, undefined);
      }
      this.#probing = true;
      this.#nextProbeAt = now + this.#probeIntervalMs;
    }
    try {
      const reply = await withTimeout(
        this.#runScript(rateLimitKey(app, owner), limit.requests, limit.windowSeconds, nowMs === undefined ? '' : String(nowMs)),
        this.#commandTimeoutMs,
      );
      this.#leaveDegraded();
      const [allowed, remaining, retryAfterSeconds, resetSeconds] = reply;
      return { allowed: allowed === 1, remaining, retryAfterSeconds, resetSeconds, limit };
    } catch (error) {
      const reason = backendErrorReason(error);
      this.#metrics.rateLimitBackendErrors.inc({ reason });
      this.#enterDegraded(reason, error);
      return this.#withoutRedis(app, owner, limit, error);
    } finally {
      if (probe) this.#probing = false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#fallback.close();
    // quit() waits for replies in flight; disconnect() then ends what quit() leaves open (with
    // Sentinel, the connections to the sentinels that listen for a failover).
    if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => undefined);
    this.#redis.disconnect();
  }

  #withoutRedis(app: string, owner: string, limit: RateLimit, cause: unknown): RateLimitDecision {
    if (this.#failureMode === 'closed') {
      // The cause is logged with the 503: name and message only (see safeError).
      const safe = cause === undefined ? undefined : Object.assign(new Error(safeError(cause).message), { name: safeError(cause).name });
      throw darkroomError('RATE_LIMIT_UNAVAILABLE', { retryAfterSeconds: 1, cause: safe });
    }
    return this.#fallback.consumeSync(app, owner, limit);
  }

  #enterDegraded(reason: BackendErrorReason, error?: unknown): void {
    if (this.#degraded || this.#closed) return;
    this.#degraded = true;
    this.#degradedReason = reason;
    this.#nextProbeAt = Date.now() + this.#probeIntervalMs;
    this.#metrics.rateLimitDegraded.set(1);
    const consequence =
      this.#failureMode === 'memory'
        ? 'each replica limits uploads on its own until it is back'
        : 'uploads are refused with RATE_LIMIT_UNAVAILABLE until it is back';
    this.#logger.warn(
      { reason, failureMode: this.#failureMode, error: error === undefined ? undefined : safeError(error) },
      `rate-limit store (Redis) unreachable: ${consequence}`,
    );
  }

  #leaveDegraded(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#metrics.rateLimitDegraded.set(0);
    this.#logger.info('rate-limit store (Redis) reachable again: limits are shared across replicas');
  }
}

/**
 * Rejects with "Command timed out" when `promise` has not settled `ms` after the call. The verdict
 * waits one `setImmediate` after the timer: when the event loop was busy, the timer phase runs
 * before the poll phase that would read a reply already sitting in the socket, and a plain timer
 * would call a prompt Redis late (then decide without it, and admit twice).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new Error(`Command timed out after ${ms} ms`));
      });
    }, ms);
    promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * An ioredis error as name and message only: its `command.args` can hold the AUTH password (the
 * HELLO of a failed login carries it), so the error object itself never reaches a log.
 */
export function safeError(error: unknown): { name: string; message: string } {
  return error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
}

/**
 * Classifies a failed call: a reply that did not come in time, no usable connection or no primary
 * to take the command (a Cluster without a primary for the key's slot answers CLUSTERDOWN, a
 * demoted primary READONLY, a primary without its replicas MASTERDOWN), or anything else.
 */
export function backendErrorReason(error: unknown): BackendErrorReason {
  const message = error instanceof Error ? error.message : String(error);
  if (/timed out/i.test(message)) return 'timeout';
  if (
    /writeable|connection is closed|offline queue|enableOfflineQueue|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|max retries|cluster is ended|startup nodes|too many cluster redirections|^(CLUSTERDOWN|READONLY|MASTERDOWN|LOADING|TRYAGAIN)\b/i.test(
      message,
    )
  ) {
    return 'unavailable';
  }
  return 'error';
}
