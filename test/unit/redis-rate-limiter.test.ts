/**
 * The Redis limiter against a real redis-server: the Lua script and `gcra.ts` agree decision by
 * decision; window boundaries; keys and expiry; and the failure modes (server killed, server
 * hung) with their metric, log lines and recovery.
 */
import fc from 'fast-check';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isDarkroomError } from '../../src/core/errors.js';
import { createLogger } from '../../src/logging/logger.js';
import { DarkroomMetrics } from '../../src/metrics/metrics.js';
import { gcra } from '../../src/ratelimit/gcra.js';
import type { RateLimit } from '../../src/ratelimit/rate-limiter.js';
import type { RedisConnection } from '../../src/config/redis-connection.js';
import { createRedisClient, createRedisConnection, describeRedisConnection, reconnectDelayMs, redactRedisUrl } from '../../src/ratelimit/redis-client.js';
import { rateLimitKey } from '../../src/ratelimit/redis-gcra-script.js';
import { backendErrorReason, RedisRateLimiter, withTimeout, type RedisFailureMode } from '../../src/ratelimit/redis-rate-limiter.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

let server: TestRedisServer;
const noAuth = { username: undefined, password: undefined };
const opened: RedisRateLimiter[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((limiter) => limiter.close()));
});
afterAll(async () => {
  await server.stop();
});

interface Harness {
  readonly limiter: RedisRateLimiter;
  readonly metrics: DarkroomMetrics;
  readonly logs: Record<string, unknown>[];
}

async function harness(failureMode: RedisFailureMode = 'memory', commandTimeoutMs = 30): Promise<Harness> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const metrics = new DarkroomMetrics({ defaultMetrics: false });
  const limiter = new RedisRateLimiter({
    redis: createRedisClient({ url: server.url }),
    metrics,
    logger: createLogger('info', sink),
    failureMode,
    probeIntervalMs: 50,
    commandTimeoutMs,
  });
  opened.push(limiter);
  expect(await limiter.connect(2_000)).toBe(true);
  return { limiter, metrics, logs };
}

let unique = 0;
const owner = () => `owner-${process.pid}-${++unique}`;

async function gauge(metrics: DarkroomMetrics): Promise<number | undefined> {
  return (await metrics.rateLimitDegraded.get()).values[0]?.value;
}
async function backendErrors(metrics: DarkroomMetrics, reason: string): Promise<number> {
  return (await metrics.rateLimitBackendErrors.get()).values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

describe('the Lua script', () => {
  it('makes the same decisions as gcra.ts over random sequences', async () => {
    const { limiter } = await harness();
    await fc.assert(
      fc.asyncProperty(
        fc.record({ requests: fc.integer({ min: 1, max: 20 }), windowSeconds: fc.integer({ min: 1, max: 120 }) }),
        fc.array(fc.integer({ min: 0, max: 4_000 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
        async (limit: RateLimit, steps, start) => {
          const who = owner();
          let now = start;
          let tat: number | undefined;
          for (const step of steps) {
            now += step;
            const expected = gcra(tat, now, limit);
            if (expected.newTatMs !== undefined) tat = expected.newTatMs;
            expect(await limiter.decide('lua-vs-ts', who, limit, now)).toEqual(expected.decision);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('admits a burst of the limit, then one request per window/limit, with Retry-After and reset', async () => {
    const { limiter } = await harness();
    const limit = { requests: 3, windowSeconds: 6 };
    const who = owner();
    const t0 = 1_800_000_000_000;
    const at = (ms: number) => limiter.decide('bounds', who, limit, t0 + ms);
    expect(await at(0)).toMatchObject({ allowed: true, remaining: 2, resetSeconds: 2 });
    expect(await at(0)).toMatchObject({ allowed: true, remaining: 1, resetSeconds: 4 });
    expect(await at(0)).toMatchObject({ allowed: true, remaining: 0, resetSeconds: 6 });
    // One slot frees every 2 s: just before the boundary still refused, at it admitted.
    expect(await at(1_999)).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    expect(await at(2_000)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await at(2_000)).toMatchObject({ allowed: false, retryAfterSeconds: 2, resetSeconds: 6 });
    // A full window later the whole burst is back.
    expect(await at(8_000)).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('admits exactly the limit in a burst when the window does not divide evenly', async () => {
    const { limiter } = await harness();
    const now = 1_800_000_000_123;
    for (const requests of [7, 37, 97, 999]) {
      const limit = { requests, windowSeconds: 3600 };
      const who = owner();
      const remaining: number[] = [];
      let tat: number | undefined;
      for (let i = 0; i <= requests; i++) {
        const decision = await limiter.decide('uneven', who, limit, now);
        const expected = gcra(tat, now, limit);
        tat = expected.newTatMs ?? tat;
        expect(decision).toEqual(expected.decision);
        if (decision.allowed) remaining.push(decision.remaining);
      }
      expect(remaining).toEqual(Array.from({ length: requests }, (_, i) => requests - 1 - i));
    }
  });

  it('keys by app and owner under a Cluster hash tag, and expires the key when its TAT passes', async () => {
    const { limiter } = await harness();
    const who = owner();
    expect(rateLimitKey('shop', who)).toBe(`darkroom:rl:{shop:${who}}`);
    await limiter.consume('shop', who, { requests: 10, windowSeconds: 5 });
    const probe = createRedisClient({ url: server.url, commandTimeoutMs: 1_000 });
    await probe.connect();
    try {
      const ttl = await probe.pttl(rateLimitKey('shop', who));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(500);
      expect(await probe.exists(rateLimitKey('other-app', who))).toBe(0);
    } finally {
      probe.disconnect();
    }
  });

  it('keeps apps and owners apart', async () => {
    const { limiter } = await harness();
    const limit = { requests: 1, windowSeconds: 3600 };
    const who = owner();
    expect((await limiter.consume('a', who, limit)).allowed).toBe(true);
    expect((await limiter.consume('a', who, limit)).allowed).toBe(false);
    expect((await limiter.consume('b', who, limit)).allowed).toBe(true);
    expect((await limiter.consume('a', owner(), limit)).allowed).toBe(true);
  });

  it('never admits more than the limit under 200 concurrent decisions from two clients', async () => {
    const [one, two] = await Promise.all([harness(), harness()]);
    const limit = { requests: 37, windowSeconds: 3600 };
    const who = owner();
    const decisions = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? one : two).limiter.consume('concurrent', who, limit)),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(37);
    expect(one.limiter.degraded || two.limiter.degraded).toBe(false);
  });
});

describe('when Redis fails', () => {
  it('limits in memory while Redis is down, logs each transition once, and shares again after a restart', async () => {
    const { limiter, metrics, logs } = await harness('memory');
    const limit = { requests: 2, windowSeconds: 3600 };
    const who = owner();
    expect((await limiter.consume('down', who, limit)).allowed).toBe(true);
    expect(await gauge(metrics)).toBe(0);

    await server.kill();
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await limiter.consume('down', who, limit);
      expect(performance.now() - started).toBeLessThan(50);
    }
    expect(limiter.degraded).toBe(true);
    expect(await gauge(metrics)).toBe(1);
    // The in-memory limiter knows nothing of the shared count: two more, then refused.
    const memoryOwner = owner();
    expect((await limiter.consume('down', memoryOwner, limit)).allowed).toBe(true);
    expect((await limiter.consume('down', memoryOwner, limit)).allowed).toBe(true);
    expect((await limiter.consume('down', memoryOwner, limit)).allowed).toBe(false);

    await server.restart();
    // Recovery happens on a decision: keep deciding until one reaches Redis.
    const deadline = Date.now() + 10_000;
    while (limiter.degraded && Date.now() < deadline) {
      await limiter.consume('down', owner(), limit);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(limiter.degraded).toBe(false);
    expect(await gauge(metrics)).toBe(0);
    // Shared again: a second client sees the first one's count.
    const other = await harness('memory');
    const shared = owner();
    expect((await limiter.consume('down', shared, limit)).allowed).toBe(true);
    expect((await other.limiter.consume('down', shared, limit)).allowed).toBe(true);
    expect((await limiter.consume('down', shared, limit)).allowed).toBe(false);

    const unreachable = logs.filter((line) => String(line.msg).includes('unreachable'));
    const reachable = logs.filter((line) => String(line.msg).includes('reachable again'));
    expect(unreachable).toHaveLength(1);
    expect(unreachable[0]).toMatchObject({ level: 'warn', failureMode: 'memory' });
    expect(reachable).toHaveLength(1);
    expect(await backendErrors(metrics, 'unavailable')).toBeGreaterThan(0);
  });

  it('refuses with RATE_LIMIT_UNAVAILABLE in fail-closed mode, and recovers', async () => {
    const { limiter, metrics } = await harness('closed');
    const limit = { requests: 5, windowSeconds: 60 };
    await server.kill();
    const error = await limiter.consume('closed', owner(), limit).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(isDarkroomError(error) && error.code).toBe('RATE_LIMIT_UNAVAILABLE');
    expect(isDarkroomError(error) && error.status).toBe(503);
    expect(isDarkroomError(error) && error.retryAfterSeconds).toBe(1);
    expect(await gauge(metrics)).toBe(1);
    await server.restart();
    const deadline = Date.now() + 10_000;
    let decision;
    while (!decision && Date.now() < deadline) {
      decision = await limiter.consume('closed', owner(), limit).catch(() => undefined);
      if (!decision) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(decision?.allowed).toBe(true);
    expect(await gauge(metrics)).toBe(0);
  });

  it('bounds a hung Redis by the command timeout and then stops waiting on it', async () => {
    const { limiter, metrics } = await harness('memory', 30);
    const limit = { requests: 100, windowSeconds: 60 };
    expect((await limiter.consume('hung', owner(), limit)).allowed).toBe(true);
    server.pause();
    try {
      const timings: number[] = [];
      for (let i = 0; i < 30; i++) {
        const started = performance.now();
        expect((await limiter.consume('hung', owner(), limit)).allowed).toBe(true);
        timings.push(performance.now() - started);
      }
      // The first decision waits for the timeout; later ones mostly skip Redis until a probe is due.
      expect(Math.max(...timings)).toBeLessThan(50);
      expect(timings.filter((ms) => ms < 5).length).toBeGreaterThan(20);
      expect(await backendErrors(metrics, 'timeout')).toBeGreaterThanOrEqual(1);
      expect(limiter.degraded).toBe(true);
    } finally {
      server.resume();
    }
    const deadline = Date.now() + 5_000;
    while (limiter.degraded && Date.now() < deadline) {
      await limiter.consume('hung', owner(), limit);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(limiter.degraded).toBe(false);
  });

  it('starts degraded, without waiting long, when Redis is not there', async () => {
    const metrics = new DarkroomMetrics({ defaultMetrics: false });
    const limiter = new RedisRateLimiter({
      redis: createRedisClient({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 30 }),
      metrics,
      logger: createLogger('silent'),
    });
    opened.push(limiter);
    const started = performance.now();
    expect(await limiter.connect(500)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(limiter.degraded).toBe(true);
    expect((await limiter.consume('nowhere', owner(), { requests: 1, windowSeconds: 60 })).allowed).toBe(true);
  });

  it.each([
    ['a Cluster whose seeds do not answer', { kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }, { host: '127.0.0.1', port: 2 }], auth: noAuth, tls: false }],
    ['sentinels that do not answer', { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'nowhere', auth: noAuth, sentinelPassword: undefined, tls: false }],
  ] as const)('starts degraded, without waiting long, with %s, and refuses at once in closed mode', async (_name, connection: RedisConnection) => {
    const limiter = new RedisRateLimiter({
      redis: createRedisConnection(connection, { commandTimeoutMs: 30 }),
      metrics: new DarkroomMetrics({ defaultMetrics: false }),
      logger: createLogger('silent'),
      failureMode: 'closed',
    });
    opened.push(limiter);
    const started = performance.now();
    expect(await limiter.connect(500)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(limiter.degraded).toBe(true);
    for (let i = 0; i < 5; i++) {
      const decided = performance.now();
      await expect(limiter.consume('nowhere', owner(), { requests: 1, windowSeconds: 60 })).rejects.toMatchObject({ code: 'RATE_LIMIT_UNAVAILABLE' });
      expect(performance.now() - decided).toBeLessThan(50);
    }
  });
});

describe('authentication', () => {
  it('authenticates with the password in REDIS_URL, and never logs it', async () => {
    const secured = await startRedisServer(['--requirepass', 'pa55-word']);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString('utf8'));
        callback();
      },
    });
    const make = (url: string) =>
      new RedisRateLimiter({
        redis: createRedisClient({ url }),
        metrics: new DarkroomMetrics({ defaultMetrics: false }),
        logger: createLogger('debug', sink),
      });
    const good = make(`redis://:pa55-word@127.0.0.1:${secured.port}`);
    const bad = make(`redis://:wrong-pa55@127.0.0.1:${secured.port}`);
    try {
      expect(await good.connect(2_000)).toBe(true);
      expect((await good.consume('auth', owner(), { requests: 1, windowSeconds: 60 })).allowed).toBe(true);
      expect(good.degraded).toBe(false);
      expect(await bad.connect(1_000)).toBe(false);
      expect(bad.degraded).toBe(true);
      expect(lines.join('')).not.toMatch(/pa55-word|wrong-pa55/);
    } finally {
      await Promise.all([good.close(), bad.close()]);
      await secured.stop();
    }
  });
});

describe('helpers', () => {
  it('does not call a reply late that arrived while the event loop was busy', async () => {
    let written: () => void = () => undefined;
    const sent = new Promise<void>((resolve) => (written = resolve));
    const peer = createServer((socket) => socket.end('reply', written));
    peer.listen(0, '127.0.0.1');
    await once(peer, 'listening');
    const socket = connect((peer.address() as AddressInfo).port, '127.0.0.1');
    try {
      const reply = new Promise((resolve) => socket.once('data', resolve));
      await sent;
      const guarded = withTimeout(reply, 10);
      // Block the loop well past the timeout while the reply lands in the socket buffer.
      const until = performance.now() + 80;
      while (performance.now() < until) {
        // busy
      }
      expect(String(await guarded)).toBe('reply');
      await expect(withTimeout(new Promise(() => undefined), 10)).rejects.toThrow('timed out');
    } finally {
      socket.destroy();
      peer.close();
    }
  });

  it('backs off from 50 ms to at most ~2 s, with jitter', () => {
    expect(reconnectDelayMs(1, () => 0)).toBe(50);
    expect(reconnectDelayMs(2, () => 0)).toBe(100);
    expect(reconnectDelayMs(20, () => 0)).toBe(2_000);
    expect(reconnectDelayMs(20, () => 0.999)).toBe(2_099);
    // Sentinel mode caps the delay at 500 ms.
    expect(reconnectDelayMs(20, () => 0, 500)).toBe(500);
  });

  it('classifies failures by reason', () => {
    expect(backendErrorReason(new Error('Command timed out'))).toBe('timeout');
    expect(backendErrorReason(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe('unavailable');
    expect(backendErrorReason(new Error('Connection is closed.'))).toBe('unavailable');
    expect(backendErrorReason(new Error('ERR Error running script'))).toBe('error');
    // Cluster and Sentinel: no primary to take the command.
    expect(backendErrorReason(new Error("Cluster isn't ready and enableOfflineQueue options is false"))).toBe('unavailable');
    expect(backendErrorReason(new Error('CLUSTERDOWN The cluster is down'))).toBe('unavailable');
    expect(backendErrorReason(new Error("READONLY You can't write against a read only replica."))).toBe('unavailable');
    expect(backendErrorReason(new Error('Cluster is ended.'))).toBe('unavailable');
    expect(backendErrorReason(new Error('Too many Cluster redirections. Last error: MOVED 1 127.0.0.1:7001'))).toBe('unavailable');
    expect(backendErrorReason(new Error('ERR unknown command, READONLY in the text'))).toBe('error');
  });

  it('never shows the password of a Redis URL', () => {
    expect(redactRedisUrl('rediss://user:s3cret@redis.example:6380/2')).toBe('rediss://user:***@redis.example:6380/2');
    expect(redactRedisUrl('redis://redis:6379')).toBe('redis://redis:6379');
  });

  it('describes Cluster and Sentinel connections for logs without their passwords', () => {
    const auth = { username: 'darkroom', password: 's3cret' };
    const cluster = describeRedisConnection({ kind: 'cluster', nodes: [{ host: 'redis-0', port: 6379 }, { host: 'fd00::1', port: 6380 }], auth, tls: true });
    expect(cluster).toBe('cluster redis-0:6379,[fd00::1]:6380 (TLS)');
    const sentinel = describeRedisConnection({ kind: 'sentinel', sentinels: [{ host: 's-0', port: 26379 }], name: 'rl', auth, sentinelPassword: 'also-secret', tls: false });
    expect(sentinel).toBe('sentinel primary "rl" via s-0:26379');
    expect(describeRedisConnection({ kind: 'standalone', url: 'redis://:s3cret@r:6379' })).toBe('redis://:***@r:6379');
  });
});
