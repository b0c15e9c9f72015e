/**
 * What shared limits must do on a Redis that fails over, written once for every topology (as the
 * storage contract is for every provider). A topology's test file calls
 * `describeRedisFailoverContract` with a way to start its real servers and to kill a primary; the
 * assertions go through darkroom's own limiter and settings, nothing topology-specific:
 *
 * - two darkroom instances (replicas) agree on every owner's count, on whichever node it lives;
 * - with a primary killed under load, no decision takes longer than the decision timeout (measured
 *   from the limiter's own decisions), decisions no primary answered follow the failure mode
 *   (`memory`: limited per replica; `closed`: RATE_LIMIT_UNAVAILABLE), and once the topology has
 *   a primary again the limits are shared again, with no restart.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/settings.js';
import type { RedisConnection } from '../../src/config/redis-connection.js';
import { isDarkroomError } from '../../src/core/errors.js';
import { createLogger } from '../../src/logging/logger.js';
import { DarkroomMetrics } from '../../src/metrics/metrics.js';
import type { RateLimit } from '../../src/ratelimit/rate-limiter.js';
import { createRedisConnection } from '../../src/ratelimit/redis-client.js';
import { rateLimitKey } from '../../src/ratelimit/redis-gcra-script.js';
import { RedisRateLimiter, type RedisFailureMode } from '../../src/ratelimit/redis-rate-limiter.js';
import { appYaml, startStack } from '../support/stack.js';

/** What darkroom's ACL user needs on the data nodes (docs/rate-limits.md lists the same). */
const aclCommands = ['+get', '+set', '+time', '+eval', '+evalsha', '+ping', '+info', '+cluster|slots', '+cluster|info'];

/** Real servers of one topology. */
export interface FailoverSubject {
  /** The environment darkroom is configured with (REDIS_CLUSTER_NODES=…, or REDIS_SENTINELS=… and REDIS_SENTINEL_NAME=…). */
  readonly env: Record<string, string>;
  /** Kills the primary that holds `key` (SIGKILL). */
  killPrimaryOf(key: string): Promise<void>;
  /** Resolves once the topology has promoted a replica and serves every key again. */
  waitForFailover(): Promise<void>;
  /** Runs one command on every data node (`ACL SETUSER …`: ACLs are per server). */
  onEveryDataNode(command: string, ...args: string[]): Promise<void>;
  /** Checks that `keys` exercise the whole topology (on a Cluster: every primary holds some). */
  assertSpread?(keys: string[]): Promise<void>;
  stop(): Promise<void>;
}

export interface FailoverContractOptions {
  /** Shown in the test names, e.g. `Redis Cluster (3 primaries, 3 replicas)`. */
  readonly name: string;
  start(): Promise<FailoverSubject>;
}

/**
 * The decision timeout of these tests (`DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS`). Above the 30 ms
 * default so that a test machine busy with several suites' Redis processes and load does not turn
 * a slow healthy answer into a per-replica decision and a miscount; still well below what the
 * client itself would wait (1 s command timeout, 2 s connect timeout), which the bound below
 * tells apart.
 */
const decisionTimeoutMs = 250;
/**
 * What a decision may take beyond the timeout, besides the event loop's own lateness (measured
 * during the run and added to the bound): the limiter's timer fires, then waits one `setImmediate`
 * (see `withTimeout`), on an event loop that runs the load of three limiters. A client that waited
 * for Redis instead (ioredis' own 1 s command timeout, 2 s connect timeout, a queue until a
 * reconnect) exceeds it by far.
 */
const eventLoopSlackMs = 50;

export function describeRedisFailoverContract(options: FailoverContractOptions): void {
  describe(`shared limits through failover: ${options.name}`, () => {
    let subject: FailoverSubject;
    const opened: RedisRateLimiter[] = [];
    let unique = 0;
    const owner = (label: string) => `${label}-${process.pid}-${++unique}`;

    beforeAll(async () => {
      subject = await options.start();
    }, 90_000);
    afterAll(async () => {
      await Promise.all(opened.splice(0).map((limiter) => limiter.close()));
      await subject?.stop();
    });

    const start = async (failureMode: RedisFailureMode, env: Record<string, string> = {}) => {
      const connection: RedisConnection = loadSettings({ ...subject.env, ...env }).redis!;
      const metrics = new DarkroomMetrics({ defaultMetrics: false });
      const logs: string[] = [];
      const limiter = new RedisRateLimiter({
        redis: createRedisConnection(connection),
        metrics,
        logger: createLogger('debug', new Writable({ write: (chunk: Buffer, _encoding, callback) => callback(void logs.push(chunk.toString())) })),
        failureMode,
        commandTimeoutMs: decisionTimeoutMs,
      });
      opened.push(limiter);
      // Generous: a test machine running several of these suites at once can take seconds to
      // deliver the slot map (a timeout here only means "started degraded", not a hang).
      return { limiter, metrics, logs, connected: await limiter.connect(10_000) };
    };
    const limiterFor = async (failureMode: RedisFailureMode, env: Record<string, string> = {}) => {
      const started = await start(failureMode, env);
      // On a machine busy with other suites the first slot map can miss the start timeout; the
      // limiter then starts degraded, and a later decision's probe reaches Redis, as in a replica
      // under traffic. Decide until that happens (bounded): these tests need a limiter that
      // decides through Redis.
      const deadline = Date.now() + 30_000;
      while (started.limiter.degraded && Date.now() < deadline) {
        await started.limiter.decide('contract', owner('warm-up'), { requests: 1_000, windowSeconds: 60 }).catch(() => undefined);
        await sleep(100);
      }
      expect(started.limiter.degraded).toBe(false);
      return started;
    };
    const backendErrors = async (metrics: DarkroomMetrics) =>
      (await metrics.rateLimitBackendErrors.get()).values.reduce((sum, value) => sum + value.value, 0);

    /** Each owner's decisions alternate between two replicas; the allowed ones and their `remaining`. */
    const alternate = async (one: RedisRateLimiter, two: RedisRateLimiter, owners: string[], limit: RateLimit, perOwner: number) =>
      Promise.all(
        owners.map(async (who) => {
          const remaining: number[] = [];
          for (let i = 0; i < perOwner; i++) {
            const decision = await (i % 2 === 0 ? one : two).consume('contract', who, limit);
            if (decision.allowed) remaining.push(decision.remaining);
          }
          return remaining;
        }),
      );

    it('two darkroom instances configured by the environment share one limit', async () => {
      const apps = appYaml('shared', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: 3, windowSeconds: 3600}');
      const env = { ...subject.env, DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS: '2000' };
      const [one, two] = await Promise.all([startStack({ appsYaml: apps, env }), startStack({ appsYaml: apps, env })]);
      try {
        const who = owner('stack');
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) {
          const response = await fetch(`${(i % 2 === 0 ? one : two).darkroom.url}/darkroom/shared/v1/images/presigned-urls`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-Owner-Id': who },
            body: JSON.stringify({ file: 'photo.png', size: 1234 }),
          });
          statuses.push(response.status);
          await response.body?.cancel();
        }
        expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
        // The start line is there either way. On a machine busy with other suites the first slot
        // map can miss darkroom's 2 s start timeout: it then starts degraded (the documented
        // behaviour) and the first decision's probe makes the limit shared, which it must log.
        const started = one.logLines.find((line) => line.msg === 'rate limits shared through Redis');
        expect(started).toMatchObject({ connected: expect.any(Boolean) as unknown });
        if (started?.connected === false) {
          expect(one.logLines.some((line) => String(line.msg).startsWith('rate-limit store (Redis) reachable again'))).toBe(true);
        }
      } finally {
        await Promise.all([one.close(), two.close()]);
      }
    });

    it('logs in with REDIS_USERNAME and REDIS_PASSWORD, and never logs the password', async () => {
      // Exactly the commands docs/rate-limits.md lists for an ACL user, on the limiter's keys only.
      await subject.onEveryDataNode('ACL', 'SETUSER', 'darkroom-rl', 'on', '>contract-secret-1', '~darkroom:rl:*', ...aclCommands);
      // Through limiterFor: on a busy machine the first slot map may come after the start
      // timeout, and the login is then proven by the first decision that reaches Redis.
      const good = await limiterFor('closed', { REDIS_USERNAME: 'darkroom-rl', REDIS_PASSWORD: 'contract-secret-1' });
      expect(good.limiter.degraded).toBe(false);
      expect((await good.limiter.consume('contract', owner('auth'), { requests: 1, windowSeconds: 60 })).allowed).toBe(true);
      const bad = await start('closed', { REDIS_USERNAME: 'darkroom-rl', REDIS_PASSWORD: 'wrong-secret-2' });
      expect(bad.connected).toBe(false);
      await expect(bad.limiter.consume('contract', owner('auth'), { requests: 1, windowSeconds: 60 })).rejects.toMatchObject({ code: 'RATE_LIMIT_UNAVAILABLE' });
      const logged = [...good.logs, ...bad.logs].join('');
      expect(logged).toContain('rate-limit store (Redis) unreachable');
      expect(logged).not.toContain('contract-secret-1');
      expect(logged).not.toContain('wrong-secret-2');
    });

    it('two replicas agree on every owner\'s count', async () => {
      const [{ limiter: one }, { limiter: two }] = await Promise.all([limiterFor('memory'), limiterFor('memory')]);
      const owners = Array.from({ length: 60 }, () => owner('agree'));
      await subject.assertSpread?.(owners.map((who) => rateLimitKey('contract', who)));
      const counts = await alternate(one, two, owners, { requests: 5, windowSeconds: 3600 }, 8);
      for (const remaining of counts) expect(remaining).toEqual([4, 3, 2, 1, 0]);
      expect(one.degraded || two.degraded).toBe(false);
    });

    it('decides within the timeout while a primary is killed under load, in the failure mode while no primary answers, and shares again after the failover', async () => {
      const [memoryOne, memoryTwo, closed] = await Promise.all([limiterFor('memory'), limiterFor('memory'), limiterFor('closed')]);
      const loadOwners = Array.from({ length: 200 }, () => owner('load'));
      const loadLimit = { requests: 1_000_000, windowSeconds: 3600 };
      const durations: number[] = [];
      let refusedUnavailable = 0;
      const unexpected: unknown[] = [];
      let running = true;
      const worker = async (limiter: RedisRateLimiter, index: number) => {
        for (let i = index; running; i += 7) {
          const started = performance.now();
          try {
            await limiter.consume('contract', loadOwners[i % loadOwners.length]!, loadLimit);
          } catch (error) {
            if (isDarkroomError(error) && error.code === 'RATE_LIMIT_UNAVAILABLE') refusedUnavailable++;
            else unexpected.push(error);
          }
          durations.push(performance.now() - started);
          // Paced at about one decision per millisecond per worker, a load that leaves the event
          // loop room to run the limiter's timers (a decision made without Redis settles in
          // microtasks only: an unpaced loop would starve them and measure itself).
          await sleep(1);
        }
      };
      // A test machine that stalls this process (other work on its cores) delays every timer, the
      // limiter's included: that lateness is measured, so the bound below holds the limiter to its
      // timeout and not to the machine's load.
      const eventLoopDelay = monitorEventLoopDelay({ resolution: 1 });
      eventLoopDelay.enable();
      const workers = [memoryOne, memoryTwo, closed].flatMap(({ limiter }) => Array.from({ length: 6 }, (_, index) => worker(limiter, index)));
      try {
        await sleep(300);
        const errorsBefore = (await backendErrors(memoryOne.metrics)) + (await backendErrors(memoryTwo.metrics));
        await subject.killPrimaryOf(rateLimitKey('contract', loadOwners[0]!));
        await subject.waitForFailover();
        // Shared again: every limiter reaches Redis again by itself (one probe per 250 ms at most).
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && [memoryOne, memoryTwo, closed].some(({ limiter }) => limiter.degraded)) {
          await sleep(50);
        }
        const errorsAfter = (await backendErrors(memoryOne.metrics)) + (await backendErrors(memoryTwo.metrics));
        // The kill mattered: decisions were made without Redis, per replica, while no primary answered.
        expect(errorsAfter - errorsBefore).toBeGreaterThan(0);
        expect(refusedUnavailable).toBeGreaterThan(0);
      } finally {
        running = false;
        await Promise.all(workers);
        eventLoopDelay.disable();
      }
      expect(unexpected).toEqual([]);
      expect(durations.length).toBeGreaterThan(100);
      const longest = durations.reduce((max, duration) => Math.max(max, duration), 0);
      expect(longest).toBeLessThanOrEqual(decisionTimeoutMs + eventLoopSlackMs + eventLoopDelay.max / 1e6);
      for (const { limiter } of [memoryOne, memoryTwo, closed]) expect(limiter.degraded).toBe(false);

      // Fresh owners, on every node the topology has now (the promoted replica included): one count.
      const owners = Array.from({ length: 60 }, () => owner('after'));
      await subject.assertSpread?.(owners.map((who) => rateLimitKey('contract', who)));
      const counts = await alternate(memoryOne.limiter, memoryTwo.limiter, owners, { requests: 5, windowSeconds: 3600 }, 8);
      for (const remaining of counts) expect(remaining).toEqual([4, 3, 2, 1, 0]);
      expect((await closed.limiter.consume('contract', owner('closed'), { requests: 1, windowSeconds: 60 })).allowed).toBe(true);
    }, 60_000);
  });
}
