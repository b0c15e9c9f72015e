/**
 * Upload authorisation on the three Redis topologies darkroom speaks, in one run on the
 * production build (`dist/main.js`): one standalone Redis (the baseline), a Redis Cluster of three
 * primaries with a replica each, and a Sentinel-managed primary with one replica and three
 * sentinels, all real `redis-server` processes on loopback ports.
 *
 * 1. Throughput: requests/s and p50/p99 of `POST presigned-urls` at 32 connections, one darkroom
 *    per topology pinned to core 0, wrk (one thread) on core 1; interleaved rounds, the median
 *    round of each; ratios to standalone.
 * 2. Failover: a closed-loop load of 8 connections (this process) while the primary is killed;
 *    Cluster and Sentinel promote a replica by themselves, the standalone Redis (which has none)
 *    is restarted 2 s later. Reported: the longest request (client side, so an upper bound of the
 *    decision time), the requests answered by the failure mode (`memory`: the rise of
 *    `darkroom_ratelimit_backend_errors_total` over the run), and the time from the kill until
 *    darkroom decides through Redis again.
 *
 * The Redis processes run unpinned. Their failover timings are the test setups' (Cluster
 * `cluster-node-timeout` 500 ms, Sentinel `down-after-milliseconds` 500 ms); production settings
 * of 5–30 s lengthen the window, and the failure-mode answers grow with it.
 * Run: `npm run bench:redis` (builds first; about two minutes). Needs `redis-server`, `redis-cli`,
 * `wrk` and `taskset`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { freePort } from '../test/support/ports.js';
import { startRedisCluster } from '../test/support/redis-cluster.js';
import { startRedisSentinel } from '../test/support/redis-sentinel.js';
import { startRedisServer } from '../test/support/redis-server.js';
import { presignBody, presignWrkScript, runPresignWrk, type PresignThroughput } from './presign-wrk.js';
import { stopChild } from './servers.js';

const connections = 32;
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const durationSeconds = Number(process.env.BENCH_DURATION_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const failoverConnections = 8;
/** `DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS` of every darkroom here: its default. */
const decisionTimeoutMs = 30;
const owners = 5_000;
const root = fileURLToPath(new URL('..', import.meta.url));
const mainJs = join(root, 'dist/main.js');
const path = '/darkroom/bench/v1/images/presigned-urls';
const body = presignBody;
// The whole run is bounded: a hung part ends it rather than holding the shared machine.
const runLimitMs = 8 * 60_000;

/** What stops the processes this run started, also when the run limit cuts it short. */
const cleanups: (() => Promise<void>)[] = [];

type Mode = 'standalone' | 'cluster' | 'sentinel';

interface Target {
  readonly mode: Mode;
  readonly url: string;
  readonly adminUrl: string;
  readonly process: ChildProcess;
}

type Throughput = PresignThroughput;

interface Failover {
  readonly requests: number;
  readonly non2xx: number;
  /** Longest request in the healthy second before the kill: this machine's noise. */
  readonly longestBeforeMs: number;
  /** Longest request from the kill until 1 s after limits are shared again. */
  readonly longestMs: number;
  /** Requests of that period slower than twice the decision timeout. */
  readonly slowerThanTwiceTimeout: number;
  readonly failureModeAnswers: number;
  readonly withoutRedisMs: number;
}



const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)] ?? 0;

async function measureThroughput(scriptPath: string, targets: Target[]): Promise<Map<Mode, Throughput>> {
  for (const target of targets) await runPresignWrk(scriptPath, target.url, warmupSeconds, { connections, owners });
  const runs = new Map<Mode, Throughput[]>(targets.map((target) => [target.mode, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const result = await runPresignWrk(scriptPath, target.url, durationSeconds, { connections, owners });
      process.stderr.write(
        `round ${round}/${rounds} ${target.mode}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms (errors ${result.errors}, non-2xx ${result.non2xx})\n`,
      );
      runs.get(target.mode)!.push(result);
    }
  }
  return new Map(
    [...runs].map(([mode, results]) => [
      mode,
      {
        requestsPerSecond: median(results.map((result) => result.requestsPerSecond)),
        p50Ms: median(results.map((result) => result.p50Ms)),
        p99Ms: median(results.map((result) => result.p99Ms)),
        errors: results.reduce((sum, result) => sum + result.errors, 0),
        non2xx: results.reduce((sum, result) => sum + result.non2xx, 0),
      },
    ]),
  );
}

/** `darkroom_ratelimit_degraded` and the sum of `darkroom_ratelimit_backend_errors_total`. */
async function limiterState(target: Target): Promise<{ degraded: boolean; backendErrors: number }> {
  const text = await (await fetch(`${target.adminUrl}/metrics`)).text();
  let degraded = false;
  let backendErrors = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('darkroom_ratelimit_degraded ')) degraded = line.endsWith(' 1');
    if (line.startsWith('darkroom_ratelimit_backend_errors_total{')) backendErrors += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { degraded, backendErrors };
}

/**
 * Closed-loop load on `target` while `fail` kills its primary and resolves once the topology has
 * a primary again; ends 1 s after darkroom decides through Redis again.
 */
async function measureFailover(target: Target, fail: () => Promise<void>): Promise<Failover> {
  const pool = new Pool(new URL(target.url).origin, { connections: failoverConnections, pipelining: 1 });
  let running = true;
  let requests = 0;
  let non2xx = 0;
  let longestBeforeMs = 0;
  let longestMs = 0;
  let slowerThanTwiceTimeout = 0;
  let killed = false;
  let counter = 0;
  const worker = async () => {
    while (running) {
      const started = performance.now();
      const response = await pool.request({
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'x-owner-id': `failover-owner-${counter++ % owners}` },
        body,
      });
      await response.body.dump();
      const took = performance.now() - started;
      if (killed) {
        longestMs = Math.max(longestMs, took);
        if (took > 2 * decisionTimeoutMs) slowerThanTwiceTimeout++;
      } else {
        longestBeforeMs = Math.max(longestBeforeMs, took);
      }
      requests++;
      if (response.statusCode !== 200) non2xx++;
    }
  };
  const workers = Array.from({ length: failoverConnections }, worker);
  try {
    await sleep(1_000);
    const before = await limiterState(target);
    if (before.degraded) throw new Error(`${target.mode}: degraded before the failover`);
    const killedAt = performance.now();
    killed = true;
    await fail();
    let recoveredAt = performance.now();
    for (const deadline = Date.now() + 30_000; ; ) {
      if (!(await limiterState(target)).degraded) break;
      if (Date.now() > deadline) throw new Error(`${target.mode}: still degraded 30 s after the failover`);
      await sleep(20);
      recoveredAt = performance.now();
    }
    await sleep(1_000);
    const after = await limiterState(target);
    return { requests, non2xx, longestBeforeMs, longestMs, slowerThanTwiceTimeout, failureModeAnswers: after.backendErrors - before.backendErrors, withoutRedisMs: recoveredAt - killedAt };
  } finally {
    running = false;
    await Promise.all(workers);
    await pool.close();
  }
}

async function waitForHttp(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within 30 s`);
    await sleep(100);
  }
}

async function startDarkroom(mode: Mode, appsFile: string, redisEnv: Record<string, string>): Promise<Target> {
  const port = await freePort();
  const adminPort = await freePort();
  const child = spawn('taskset', ['-c', '0', process.execPath, mainJs], {
    cwd: root,
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'AKIDBENCHMARK',
      AWS_SECRET_ACCESS_KEY: 'bench-secret-key',
      AWS_REGION: 'us-east-1',
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      HOST: '127.0.0.1',
      DARKROOM_APPS_FILE: appsFile,
      DARKROOM_S3_ENDPOINT: 'http://127.0.0.1:9',
      DARKROOM_PUBLIC_BASE_URL: 'https://img.example.test',
      LOG_LEVEL: 'info',
      DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS: String(decisionTimeoutMs),
      ...redisEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForHttp(`http://127.0.0.1:${port}/readyz`, child);
  const target = { mode, url: `http://127.0.0.1:${port}${path}`, adminUrl: `http://127.0.0.1:${adminPort}`, process: child };
  if ((await limiterState(target)).degraded) throw new Error(`${mode}: darkroom started without reaching Redis`);
  return target;
}

const stop = (child: ChildProcess): Promise<void> => stopChild(child, 10_000);

function requireTools(): void {
  for (const [tool, args, debianPackage] of [
    ['wrk', ['--version'], 'wrk'],
    ['taskset', ['--version'], 'util-linux'],
    ['redis-server', ['--version'], 'redis-server'],
    ['redis-cli', ['--version'], 'redis-tools'],
  ] as const) {
    if (spawnSync(tool, [...args]).error) throw new Error(`${tool} is needed for this bench (Debian package: ${debianPackage})`);
  }
  if (!existsSync(mainJs)) throw new Error('dist/main.js is missing: run `npm run build` first (`npm run bench:redis` does)');
}

async function main(): Promise<void> {
  requireTools();
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-bench-redis-'));
  const started = await Promise.allSettled([startRedisServer(), startRedisCluster(), startRedisSentinel()]);
  if (started.some((result) => result.status === 'rejected')) {
    await Promise.all(started.map((result) => (result.status === 'fulfilled' ? result.value.stop() : Promise.resolve())));
    throw (started.find((result) => result.status === 'rejected') as PromiseRejectedResult).reason;
  }
  const [standalone, cluster, sentinel] = started.map((result) => (result as PromiseFulfilledResult<unknown>).value) as [
    Awaited<ReturnType<typeof startRedisServer>>,
    Awaited<ReturnType<typeof startRedisCluster>>,
    Awaited<ReturnType<typeof startRedisSentinel>>,
  ];
  const targets: Target[] = [];
  cleanups.push(
    () => Promise.all(targets.map((target) => stop(target.process))).then(() => undefined),
    () => Promise.all([standalone.stop(), cluster.stop(), sentinel.stop()]).then(() => undefined),
  );
  try {
    const scriptPath = join(dir, 'presign.lua');
    await writeFile(scriptPath, presignWrkScript);
    const appsFile = join(dir, 'apps.yaml');
    await writeFile(
      appsFile,
      [
        'apiVersion: darkroom.dev/v1alpha1',
        'kind: DarkroomApp',
        'metadata: {name: bench}',
        'spec:',
        '  allowPublicUpload: true',
        '  storage: {provider: s3, bucket: bench-bucket}',
        '  rateLimit: {requests: 1000000, windowSeconds: 1}',
        '',
      ].join('\n'),
    );
    targets.push(await startDarkroom('standalone', appsFile, { REDIS_URL: standalone.url }));
    targets.push(await startDarkroom('cluster', appsFile, { REDIS_CLUSTER_NODES: cluster.seeds }));
    targets.push(await startDarkroom('sentinel', appsFile, { REDIS_SENTINELS: sentinel.sentinels, REDIS_SENTINEL_NAME: sentinel.name }));

    const throughput = await measureThroughput(scriptPath, targets);

    const failovers = new Map<Mode, Failover>();
    const [standaloneTarget, clusterTarget, sentinelTarget] = targets as [Target, Target, Target];
    failovers.set(
      'standalone',
      await measureFailover(standaloneTarget, async () => {
        await standalone.kill();
        await sleep(2_000);
        await standalone.restart();
      }),
    );
    failovers.set(
      'cluster',
      await measureFailover(clusterTarget, async () => {
        await cluster.kill(await cluster.primaryPortFor('darkroom:rl:{bench:failover-owner-0}'));
        await cluster.waitUntilHealthy();
      }),
    );
    failovers.set(
      'sentinel',
      await measureFailover(sentinelTarget, async () => {
        await sentinel.waitForFailover(await sentinel.killPrimary());
      }),
    );
    for (const [mode, failover] of failovers) process.stderr.write(`failover ${mode}: ${JSON.stringify(failover)}\n`);
    printSummary(throughput, failovers);
  } finally {
    await Promise.all(targets.map((target) => stop(target.process)));
    await Promise.all([standalone.stop(), cluster.stop(), sentinel.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

function printSummary(throughput: Map<Mode, Throughput>, failovers: Map<Mode, Failover>): void {
  const base = throughput.get('standalone')!.requestsPerSecond;
  const names: Record<Mode, string> = {
    standalone: 'standalone Redis',
    cluster: 'Redis Cluster (3 primaries + 3 replicas)',
    sentinel: 'Sentinel (primary + replica, 3 sentinels)',
  };
  const failoverNames: Record<Mode, string> = {
    standalone: 'standalone (no replica: killed, restarted 2 s later)',
    cluster: 'Cluster (one primary killed, its replica promoted)',
    sentinel: 'Sentinel (primary killed, replica promoted)',
  };
  const modes: Mode[] = ['standalone', 'cluster', 'sentinel'];
  const lines = [
    '',
    `Upload authorisation by Redis topology, production build, Node ${process.versions.node}; ${connections} connections, darkroom on core 0, wrk on core 1;`,
    `median of ${rounds} interleaved ${durationSeconds} s rounds after a ${warmupSeconds} s warm-up:`,
    '',
    '| Redis | req/s | vs standalone | p50 ms | p99 ms |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...modes.map((mode) => {
      const result = throughput.get(mode)!;
      return `| ${names[mode]} | ${result.requestsPerSecond.toFixed(0)} | ${(result.requestsPerSecond / base).toFixed(2)}× | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} |`;
    }),
    '',
    `A primary killed under a closed-loop load of ${failoverConnections} connections (failure mode memory, decision timeout ${decisionTimeoutMs} ms);`,
    'longest request (client side) in the healthy second before the kill, and from the kill until 1 s after limits are shared again:',
    '',
    `| failover | requests | longest before ms | longest during ms | during, > ${2 * decisionTimeoutMs} ms | answered by the failure mode | kill → shared again ms |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...modes.map((mode) => {
      const result = failovers.get(mode)!;
      return `| ${failoverNames[mode]} | ${result.requests} | ${result.longestBeforeMs.toFixed(1)} | ${result.longestMs.toFixed(1)} | ${result.slowerThanTwiceTimeout} | ${result.failureModeAnswers} | ${result.withoutRedisMs.toFixed(0)} |`;
    }),
    ...([...throughput.values()].some((result) => result.errors > 0 || result.non2xx > 0) || [...failovers.values()].some((result) => result.non2xx > 0)
      ? ['', 'warning: errors or non-2xx answers during the run']
      : []),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

const limit = setTimeout(() => {
  process.stderr.write(`bench: not done within ${runLimitMs / 60_000} minutes, giving up\n`);
  void Promise.allSettled(cleanups.map((cleanup) => cleanup())).finally(() => process.exit(1));
}, runLimitMs);
limit.unref();
await main();
