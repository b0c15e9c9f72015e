/**
 * Variants benchmark, on the production build (`npm run build` first: the darkroom under test is
 * `dist/`), loopback only, baselines measured in the same run.
 *
 * (a) Miss throughput: 12 MP JPEG → 640 px WebP at 32 concurrent clients, every request a miss
 *     (a distinct original), darkroom (variant lookup CDN then storage, original read through the
 *     CDN, transform, store) vs a bare `node:http` server doing only
 *     `sharp(original).resize(640).webp()` from memory with the same concurrency settings (sharp
 *     cache off, 1 libvips thread per transform, at most DARKROOM_TRANSFORM_CONCURRENCY at once,
 *     the same UV_THREADPOOL_SIZE). Measured twice: in alternating runs one server after the
 *     other (for latency: p50, p99), and with both under load at once and the core theirs in
 *     turns of 200 ms (for the ratio: this machine's speed drifts by up to a third over tens of
 *     seconds, so runs taken one after the other can differ by more than the two servers do).
 * (b) A stored variant read through the CDN path vs an original of the same byte size, both
 *     through darkroom, with wrk, in turns of 2 s taken in ABBA order, with darkroom's CPU per
 *     answer in them.
 * (c) RSS of darkroom under 16 concurrent misses on 24 MP originals against the chart's memory
 *     limit, and after the load against idle.
 *
 * Servers under test run on CPU 0 (`taskset -c 0`); run the bench itself on CPU 1 so that the
 * load generator, s3rver and nginx stay off the measured core:
 *
 *   npm run build && flock /tmp/darkroom-heavy.lock taskset -c 1 npm run bench:variants
 *
 * Images are made with sharp at run time; nothing binary is committed. The same file is the
 * entry point of the servers it starts (`serve-*` modes).
 *
 * For each miss run it also prints the CPU the server's threads spent per request (from /proc)
 * and darkroom's garbage collections per request (from its metrics): where a miss's cost beyond
 * the transform goes. Knobs: BENCH_MISSES (requests a run, 96), BENCH_ROUNDS (runs per server,
 * 3), BENCH_HIT_PAIRS (pairs of hit turns, 8), BENCH_SECONDS (a hit turn's length, 2), BENCH_DUTY_SECONDS (the
 * duty-cycled window, 40: 20 s of turns each), BENCH_NODE_ARGS (extra node
 * flags for the servers, e.g. `--trace-gc`, whose output is then shown), BENCH_PROFILE (a file:
 * darkroom's main thread is profiled over its first miss run, to open in Chrome's DevTools),
 * BENCH_PROFILE_HITS (a path prefix: the same over the first turn of each hit URL,
 * `<prefix>-variant.cpuprofile` and `<prefix>-original.cpuprofile`), BENCH_PERF (a directory: `perf record` samples every thread of each server, native code
 * included, over each miss run, for `perf report -i <dir>/darkroom-0.data --sort dso,sym`).
 */
import { CopyObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { startEmbeddedS3 } from '../src/devstorage/embedded-s3.js';
import { jpegBytes } from '../test/fixtures/images.js';
import { freePort, startNginxCdn, waitForPort } from '../test/support/nginx-cdn.js';
import { appYaml } from '../test/support/stack.js';
import { processCpuMs, rssMiB, threadCpuMs, trackChild, type Running } from './servers.js';

const clients = 32;
const missesPerRun = Number(process.env.BENCH_MISSES ?? 96);
const missRounds = Number(process.env.BENCH_ROUNDS ?? 3);
const wrkSeconds = Number(process.env.BENCH_SECONDS ?? 2);
const hitPairs = Number(process.env.BENCH_HIT_PAIRS ?? 8);
const bucket = 'bench-variants';
const prefix = 'img/';
const self = fileURLToPath(import.meta.url);
const browserAccept = 'image/webp,*/*;q=0.8';
/** The settings both servers share: the defaults darkroom ships with. */
const concurrencyEnv = { UV_THREADPOOL_SIZE: '4', DARKROOM_TRANSFORM_CONCURRENCY: '2', DARKROOM_TRANSFORM_THREADS: '1', DARKROOM_TRANSFORM_QUEUE: '64' };

// ---------------------------------------------------------------------------------------------
// Server modes (children, pinned to CPU 0)
// ---------------------------------------------------------------------------------------------

/**
 * darkroom from the production build, in a plain `node` (no TypeScript loader resident, as
 * `node dist/main.js` runs in the image), with the image's environment (Dockerfile `ENV`).
 */
function darkroomEntry(config: { appsFile: string; s3Endpoint: string; adminPort: number; port: number }): string {
  const dist = (path: string) => JSON.stringify(fileURLToPath(new URL(`../dist/${path}`, import.meta.url)));
  const env = { PORT: String(config.port), ADMIN_PORT: String(config.adminPort), HOST: '127.0.0.1', DARKROOM_APPS_FILE: config.appsFile, DARKROOM_S3_ENDPOINT: config.s3Endpoint, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn' };
  // The Kubernetes source is loaded as in the chart's pods (a process started from a file skips it): memory figures stand for those pods.
  return `import ${dist('config/sources/kubernetes/create-source.js')};
import { loadSettings } from ${dist('config/settings.js')};
import { startDarkroom } from ${dist('darkroom.js')};
await startDarkroom(loadSettings({ ...process.env, ...${JSON.stringify(env)} }));`;
}

/**
 * The image's run-time environment and the node flags of its ENTRYPOINT (Dockerfile), read so the
 * bench runs darkroom as the image does. A preloaded library (jemalloc) is found where this
 * machine's Debian put it: the image links it to one path for every architecture, which exists
 * only in the image.
 */
async function imageRuntime(): Promise<{ env: Record<string, string>; nodeArgs: string[] }> {
  const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
  const env = Object.fromEntries([...runtime.matchAll(/^ENV ([A-Z_]+)=(\S+)/gm)].map((match) => [match[1] ?? '', match[2] ?? '']));
  if (env.LD_PRELOAD && !existsSync(env.LD_PRELOAD)) env.LD_PRELOAD = localLibrary(basename(env.LD_PRELOAD));
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(runtime)?.[1];
  const command = entrypoint ? (JSON.parse(entrypoint) as string[]) : [];
  if (command[0] !== 'node' || command.at(-1) !== 'dist/main.js') throw new Error(`the Dockerfile's ENTRYPOINT is not node … dist/main.js: ${entrypoint ?? 'none'}`);
  return { env, nodeArgs: command.slice(1, -1) };
}

/** This machine's copy of a shared library, by file name (ldconfig's cache); fails loudly rather than bench without it. */
function localLibrary(name: string): string {
  const cache = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '';
  const path = cache
    .split('\n')
    .map((line) => /=> (\S+)$/.exec(line.trim())?.[1] ?? '')
    .find((candidate) => basename(candidate) === name);
  if (!path) throw new Error(`the image preloads ${name}, which this machine lacks: scripts/system-deps.sh installs it (libjemalloc2)`);
  return path;
}

/** The floor: only `sharp(original).resize(640).webp()`, under the same bounds as darkroom's. */
async function serveSharpFloor(config: { originalFile: string; port: number }): Promise<void> {
  const original = await readFile(config.originalFile);
  sharp.cache(false);
  sharp.concurrency(Number(process.env.DARKROOM_TRANSFORM_THREADS));
  const slots = Number(process.env.DARKROOM_TRANSFORM_CONCURRENCY);
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (running < slots) running += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };
  createServer((req, res) => {
    req.resume();
    void (async () => {
      await acquire();
      try {
        const webp = await sharp(original).resize(640).webp().toBuffer();
        res.writeHead(200, { 'content-type': 'image/webp', 'content-length': String(webp.length) });
        res.end(webp);
      } catch {
        res.writeHead(500).end();
      } finally {
        release();
      }
    })();
  })
    .listen(config.port, '127.0.0.1')
    .keepAliveTimeout = 65_000;
}

// ---------------------------------------------------------------------------------------------
// Orchestration
// ---------------------------------------------------------------------------------------------

async function startPinnedNode(mode: string, config: object, env: NodeJS.ProcessEnv, imageNodeArgs: readonly string[]): Promise<Running> {
  const port = await freePort();
  const args =
    mode === 'serve-darkroom'
      ? ['--input-type=module', '-e', darkroomEntry({ ...(config as { appsFile: string; s3Endpoint: string; adminPort: number }), port })]
      : ['--import', 'tsx', self, mode, JSON.stringify({ ...config, port })];
  // BENCH_NODE_ARGS (e.g. `--trace-gc`) goes to the servers' node, whose output is then shown.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn('taskset', ['-c', '0', process.execPath, ...imageNodeArgs, ...nodeArgs, ...args], {
    stdio: ['ignore', process.env.BENCH_NODE_ARGS ? 'inherit' : 'ignore', 'inherit'],
    env: { ...process.env, ...env },
  });
  await waitForPort(port, child, 30_000);
  return trackChild(child, `http://127.0.0.1:${port}`);
}

/** A closed-loop run with the CPU its server spent. */
type Measured = LoadResult & { cpuMsPerRequest: Record<string, number>; gcPerRequest: string };

/** Latencies of a closed-loop run: `workers` clients, each sending the next URL when its last answer is in. */
interface LoadResult {
  readonly requests: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failures: number;
  readonly statuses: Record<number, number>;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function get(url: string, headers: Record<string, string>): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { agent, headers }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, bytes }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

/**
 * `workers` clients, each sending the next URL when its last answer is in, until the URLs run out
 * or `until` is aborted (then no new request is sent and the ones under way finish).
 */
async function closedLoop(
  urls: readonly string[],
  workers: number,
  headers: Record<string, string> = {},
  until?: AbortSignal,
): Promise<LoadResult & { completedAt: number[]; ranOutAt: number | undefined }> {
  const latencies: number[] = [];
  const completedAt: number[] = [];
  let ranOutAt: number | undefined;
  const statuses: Record<number, number> = {};
  let failures = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let index = next++; index < urls.length && !until?.aborted; index = next++) {
        const sent = performance.now();
        try {
          const { status } = await get(urls[index] ?? '', headers);
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === 200) completedAt.push(performance.now());
          else failures += 1;
        } catch {
          failures += 1;
        }
        latencies.push(performance.now() - sent);
      }
      ranOutAt ??= next > urls.length ? performance.now() : undefined;
    }),
  );
  const elapsedSeconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  const requests = latencies.length;
  return { requests, perSecond: requests / elapsedSeconds, p50Ms: quantile(0.5), p99Ms: quantile(0.99), failures, statuses, completedAt, ranOutAt };
}

/** One server in a duty-cycled comparison: its process and the closed loop it is under. */
interface DutySide {
  readonly pid: number | undefined;
  readonly urls: readonly string[];
  readonly headers: Record<string, string>;
}

/** What a side did in the measured window. */
interface DutyResult {
  /** Successful answers per second of the time the side held the core. */
  readonly perSecond: number;
  readonly completions: number;
  readonly heldSeconds: number;
  /** CPU its threads spent per successful answer, by thread name. */
  readonly cpuMsPerRequest: Record<string, number>;
  readonly failures: number;
}

/**
 * Throughput of two servers on one core under the same machine conditions. Both are under their
 * own closed loop at once, and the core is theirs in turns: every `sliceMs` one is stopped
 * (SIGSTOP) and the other resumed (SIGCONT). Why: this shared machine's speed drifts by a third
 * over tens of seconds (a sequential sharp loop on one core ran at 14 transforms/s for 16 s, then
 * at 9 to 10 for the rest of the minute), more than the difference under test, so runs taken one
 * after the other compare two machines; turns of a fraction of a second compare one. A side's
 * throughput is its answers in the window over the time it held the core in the window; the
 * first `settleSeconds` (queues filling, connections opening) are not counted.
 */
async function dutyCycled(sides: readonly [DutySide, DutySide], clientsEach: number, timing: { sliceMs: number; settleSeconds: number; windowSeconds: number }): Promise<[DutyResult, DutyResult]> {
  const pids = sides.map((side) => side.pid ?? 0);
  const stop = new AbortController();
  const held: { side: number; from: number; to: number }[] = [];
  let turn = 0;
  process.kill(pids[1] ?? 0, 'SIGSTOP');
  const loops = sides.map((side) => closedLoop(side.urls, clientsEach, side.headers, stop.signal));
  let since = performance.now();
  const windowStart = since + timing.settleSeconds * 1000;
  const windowEnd = windowStart + timing.windowSeconds * 1000;
  let cpuBefore: Awaited<ReturnType<typeof threadCpuMs>>[] = [];
  let cpuAfter: Awaited<ReturnType<typeof threadCpuMs>>[] = [];
  try {
    for (;;) {
      await delay(timing.sliceMs);
      process.kill(pids[turn] ?? 0, 'SIGSTOP');
      held.push({ side: turn, from: since, to: performance.now() });
      // Both stopped: the CPU counters are read with no thread running.
      if (cpuBefore.length === 0 && performance.now() >= windowStart) cpuBefore = await Promise.all(pids.map((pid) => threadCpuMs(pid)));
      if (performance.now() >= windowEnd) break;
      turn = 1 - turn;
      since = performance.now();
      process.kill(pids[turn] ?? 0, 'SIGCONT');
    }
    cpuAfter = await Promise.all(pids.map((pid) => threadCpuMs(pid)));
  } finally {
    stop.abort();
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  }
  const runs = await Promise.all(loops);
  // The window measured: from the first turn's end after windowStart (when the CPU was read) to the last turn's end.
  const measuredFrom = held.find((turnHeld) => turnHeld.to >= windowStart)?.to ?? windowStart;
  const measuredTo = held.at(-1)?.to ?? windowEnd;
  return sides.map((_, index) => {
    const run = runs[index];
    if (!run || (run.ranOutAt !== undefined && run.ranOutAt < measuredTo)) throw new Error(`duty-cycled side ${index} ran out of URLs inside the window: give it more`);
    const heldMs = held.filter((h) => h.side === index).reduce((sum, h) => sum + Math.max(0, Math.min(h.to, measuredTo) - Math.max(h.from, measuredFrom)), 0);
    const completions = run.completedAt.filter((at) => at >= measuredFrom && at <= measuredTo).length;
    const byName: Record<string, number> = {};
    for (const [tid, { name, ms }] of cpuAfter[index] ?? new Map<string, { name: string; ms: number }>()) byName[name] = (byName[name] ?? 0) + (ms - (cpuBefore[index]?.get(tid)?.ms ?? 0)) / Math.max(1, completions);
    return { perSecond: completions / (heldMs / 1000), completions, heldSeconds: heldMs / 1000, cpuMsPerRequest: byName, failures: run.failures };
  }) as [DutyResult, DutyResult];
}

interface WrkResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

function toMs(value: string, unit: string): number {
  const factor: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
  return Number(value) * (factor[unit] ?? Number.NaN);
}

async function wrk(url: string, headers: Record<string, string>, durationSeconds = wrkSeconds): Promise<WrkResult> {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const child = spawn('wrk', ['-t1', `-c${clients}`, `-d${durationSeconds}s`, '--latency', ...headerArgs, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await once(child, 'exit');
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const p50 = /50%\s+([\d.]+)(us|ms|s|m)\b/.exec(out);
  const p99 = /99%\s+([\d.]+)(us|ms|s|m)\b/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return { rps, p50Ms: p50 ? toMs(p50[1] ?? '', p50[2] ?? '') : Number.NaN, p99Ms: p99 ? toMs(p99[1] ?? '', p99[2] ?? '') : Number.NaN, errors };
}

/** A wrk turn on a hit URL, with the CPU darkroom spent in it. */
type HitTurn = WrkResult & { readonly cpuMs: number };

/** Turns of one URL as one result: the mean throughput, the median of the quantiles, every error. */
function summarise(runs: readonly WrkResult[]): WrkResult {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  return {
    rps: runs.reduce((sum, run) => sum + run.rps, 0) / runs.length,
    p50Ms: median(runs.map((run) => run.p50Ms)),
    p99Ms: median(runs.map((run) => run.p99Ms)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
  };
}

/** Runs `load` and returns its result with the CPU `pid` spent meanwhile, per request, by thread name. */
async function withCpu<T extends { requests: number }>(
  pid: number | undefined,
  load: () => Promise<T>,
  adminPort?: number,
): Promise<T & { cpuMsPerRequest: Record<string, number>; gcPerRequest: string }> {
  const gcBefore = adminPort !== undefined ? await gcTotals(adminPort) : {};
  const before = await threadCpuMs(pid);
  const result = await load();
  const after = await threadCpuMs(pid);
  const gcAfter = adminPort !== undefined ? await gcTotals(adminPort) : {};
  const byName: Record<string, number> = {};
  for (const [tid, { name, ms }] of after) byName[name] = (byName[name] ?? 0) + (ms - (before.get(tid)?.ms ?? 0)) / result.requests;
  return { ...result, cpuMsPerRequest: byName, gcPerRequest: gcLine(gcBefore, gcAfter, result.requests) };
}

/**
 * A CPU profile of `pid`'s main thread while `load` runs, written to `file` (open it in Chrome's
 * DevTools): the process's inspector is opened with SIGUSR1 and driven over its WebSocket.
 */
async function profiled<T>(pid: number | undefined, file: string | undefined, load: () => Promise<T>): Promise<T> {
  if (!file || pid === undefined) return load();
  process.kill(pid, 'SIGUSR1');
  let targets: { webSocketDebuggerUrl: string }[] = [];
  for (let attempt = 0; attempt < 50 && targets.length === 0; attempt += 1) {
    await delay(100);
    targets = await fetch('http://127.0.0.1:9229/json/list').then((response) => response.json() as Promise<typeof targets>, () => []);
  }
  const socket = new WebSocket(targets[0]?.webSocketDebuggerUrl ?? '');
  await new Promise((resolve) => socket.addEventListener('open', resolve, { once: true }));
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { profile?: unknown } }>((resolve) => {
      const mine = (id += 1);
      const onMessage = (event: MessageEvent) => {
        const message = JSON.parse(String(event.data)) as { id?: number; result?: { profile?: unknown } };
        if (message.id !== mine) return;
        socket.removeEventListener('message', onMessage);
        resolve(message);
      };
      socket.addEventListener('message', onMessage);
      socket.send(JSON.stringify({ id: mine, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 });
  await call('Profiler.start');
  const result = await load();
  const stopped = await call('Profiler.stop');
  await writeFile(file, JSON.stringify(stopped.result?.profile ?? {}));
  socket.close();
  return result;
}

/**
 * Samples of every thread of `pid` (native frames included: libvips, the kernel) while `load`
 * runs, written by `perf record` to `file`; software clock events, which a VM without hardware
 * counters still has.
 */
async function perfRecorded<T>(pid: number | undefined, file: string | undefined, load: () => Promise<T>): Promise<T> {
  if (!file || pid === undefined) return load();
  const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '1999', '-p', String(pid), '-o', file], { stdio: 'inherit' });
  await delay(300);
  try {
    return await load();
  } finally {
    perf.kill('SIGINT');
    await once(perf, 'exit');
  }
}

/** darkroom's Prometheus exposition, from its admin port. */
async function metricsText(adminPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
}

/** darkroom's V8 heap (committed) and the external memory V8 knows of, in MiB, from its metrics. */
async function heapMiB(adminPort: number): Promise<{ heap: number; external: number }> {
  const text = await metricsText(adminPort);
  const value = (name: string) => Number(new RegExp(`^${name} ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 1024 / 1024;
  return { heap: value('nodejs_heap_size_total_bytes'), external: value('nodejs_external_memory_bytes') };
}

/** darkroom's garbage collections so far (prom-client's default metrics): count and seconds by kind. */
async function gcTotals(adminPort: number): Promise<Record<string, { count: number; seconds: number }>> {
  const text = await metricsText(adminPort);
  const totals: Record<string, { count: number; seconds: number }> = {};
  for (const [, what, kind, value] of text.matchAll(/^nodejs_gc_duration_seconds_(count|sum)\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) {
    const entry = (totals[kind ?? ''] ??= { count: 0, seconds: 0 });
    if (what === 'count') entry.count = Number(value);
    else entry.seconds = Number(value);
  }
  return totals;
}

/** The collections between two `gcTotals`, per request: `major 0.12 (2.1 ms)` etc. */
function gcLine(before: Awaited<ReturnType<typeof gcTotals>>, after: Awaited<ReturnType<typeof gcTotals>>, requests: number): string {
  return Object.entries(after)
    .map(([kind, { count, seconds }]) => {
      const was = before[kind] ?? { count: 0, seconds: 0 };
      return `${kind} ${((count - was.count) / requests).toFixed(2)} (${(((seconds - was.seconds) * 1000) / requests).toFixed(1)} ms pause)`;
    })
    .join(', ');
}

const cpuLine = (cpu: Record<string, number>) =>
  Object.entries(cpu)
    .filter(([, ms]) => ms >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name} ${ms.toFixed(1)}`)
    .join(', ') + ` (total ${Object.values(cpu).reduce((a, b) => a + b, 0).toFixed(1)})`;

/** A photo-like JPEG: smooth colour fields with fine grain, at quality 85 (about 1 to 3 MB at 12 MP). */
async function photoLikeJpeg(width: number, height: number): Promise<Buffer> {
  const base = await sharp({ create: { width: Math.round(width / 40), height: Math.round(height / 40), channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .png()
    .toBuffer();
  const grain = await sharp({ create: { width, height, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 12 } } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(base)
    .resize(width, height, { kernel: 'cubic' })
    .composite([{ input: grain.data, raw: grain.info, blend: 'soft-light' }])
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** The duty-cycled comparison's turns and window (BENCH_DUTY_SECONDS measured, 40 by default). */
const dutyTiming = { sliceMs: 200, settleSeconds: 4, windowSeconds: Number(process.env.BENCH_DUTY_SECONDS ?? 40) };
const perfFile = (server: string, round: number) => (process.env.BENCH_PERF ? join(process.env.BENCH_PERF, `${server}-${round}.data`) : undefined);
const publicKey = (name: string) => `${randomUUID().replaceAll('-', '')}-${name}`;
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-bench-variants-'));
  const image = await imageRuntime();
  const credentials = { accessKeyId: 'BENCHKEY', secretAccessKey: randomBytes(24).toString('base64url') };
  const s3 = await startEmbeddedS3({ bucket, credentials });
  const cdn = await startNginxCdn({ origin: s3.origin, bucket });
  const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });

  /** Uploads `bytes` once and server-side copies it to `count` keys: distinct originals, one upload. */
  const originals = async (bytes: Buffer, count: number, name: string): Promise<string[]> => {
    const first = publicKey(name);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${first}`, Body: bytes, ContentType: 'image/jpeg' }));
    const keys = [first];
    for (let i = 1; i < count; i += 1) {
      const key = publicKey(name);
      await client.send(new CopyObjectCommand({ Bucket: bucket, Key: `${prefix}${key}`, CopySource: `${bucket}/${prefix}${first}` }));
      keys.push(key);
    }
    return keys;
  };

  const photo12 = await photoLikeJpeg(4000, 3000);
  const photo24 = await photoLikeJpeg(6000, 4000);
  const originalFile = join(dir, 'original-12mp.jpg');
  await writeFile(originalFile, photo12);
  const warmups = 8;
  const keys12 = await originals(photo12, warmups + missesPerRun * missRounds + 1, 'photo-12mp.jpg');
  // Enough distinct originals for darkroom's half of the duty-cycled run at up to 16 misses a second.
  const dutyKeys = await originals(photo12, Math.ceil(((dutyTiming.settleSeconds + dutyTiming.windowSeconds) / 2) * 16) + 2 * clients, 'photo-12mp.jpg');
  const keys24 = await originals(photo24, 17, 'photo-24mp.jpg');

  const appsFile = join(dir, 'apps.yaml');
  const storage = `storage: {provider: s3, bucket: ${bucket}, prefix: "${prefix}"}`;
  const variants = 'variants: {widths: [640]}';
  await writeFile(
    appsFile,
    [
      appYaml('bench', `${storage}\nupload: {maxBytes: 104857600}\ncdn: {url: "${cdn.url}"}\n${variants}`),
      // The same bucket and prefixes without a CDN: makes a variant without the CDN ever seeing (and negatively caching) its key.
      appYaml('direct', `${storage}\nupload: {maxBytes: 104857600}\n${variants}`),
    ].join('---\n'),
  );
  const awsEnv = { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1' };
  const adminPort = await freePort();
  const darkroom = await startPinnedNode('serve-darkroom', { appsFile, s3Endpoint: s3.endpoint, adminPort }, { ...awsEnv, ...image.env, ...concurrencyEnv }, image.nodeArgs);
  const floor = await startPinnedNode('serve-sharp-floor', { originalFile }, { ...image.env, ...concurrencyEnv }, image.nodeArgs);
  const variantUrl = (app: string, key: string) => `${darkroom.url}/darkroom/${app}/v2/images/${key}?w=640`;
  const lines: string[] = [];
  const ratios: string[] = [];
  try {
    // (c) first, on a fresh process: idle, then 16 concurrent 24 MP misses, then after the load.
    await delay(2_000);
    const idle = await rssMiB(darkroom.child.pid);
    const idleHeap = await heapMiB(adminPort);
    let peak = idle;
    const sampler = setInterval(() => void rssMiB(darkroom.child.pid).then((mib) => (peak = Math.max(peak, mib))), 50);
    const big = await closedLoop(keys24.slice(0, 16).map((key) => variantUrl('bench', key)), 16, { Accept: browserAccept });
    clearInterval(sampler);
    const afterSamples: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      await delay(1_000);
      afterSamples.push(await rssMiB(darkroom.child.pid));
    }
    const after = afterSamples.at(-1) ?? Number.NaN;
    const afterHeap = await heapMiB(adminPort);

    // (a) misses: warm both (JIT, libvips, pools), then rounds in alternating order (darkroom
    // first, then the floor first, ...) so that drift on the machine hits both alike; the best
    // run of each is kept (noise on a shared machine only ever slows a run down).
    await closedLoop(keys12.slice(0, warmups).map((key) => variantUrl('bench', key)), 4, { Accept: browserAccept });
    await closedLoop(Array.from({ length: warmups }, () => `${floor.url}/`), 4);
    const darkroomRuns: Measured[] = [];
    const floorRuns: Measured[] = [];
    const runDarkroom = async (round: number) => {
      const keys = keys12.slice(warmups + round * missesPerRun, warmups + (round + 1) * missesPerRun);
      const load = () => closedLoop(keys.map((key) => variantUrl('bench', key)), clients, { Accept: browserAccept });
      const sampled = () => perfRecorded(darkroom.child.pid, perfFile('darkroom', round), load);
      darkroomRuns.push(await withCpu(darkroom.child.pid, () => (round === 0 ? profiled(darkroom.child.pid, process.env.BENCH_PROFILE, sampled) : sampled()), adminPort));
    };
    const runFloor = async (round: number) =>
      floorRuns.push(await withCpu(floor.child.pid, () => perfRecorded(floor.child.pid, perfFile('floor', round), () => closedLoop(Array.from({ length: missesPerRun }, () => `${floor.url}/`), clients))));
    for (let round = 0; round < missRounds; round += 1) {
      if (round % 2 === 0) {
        await runDarkroom(round);
        await runFloor(round);
      } else {
        await runFloor(round);
        await runDarkroom(round);
      }
    }
    const fastest = (runs: Measured[]) => runs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    const cpuTotal = (run: Measured) => Object.values(run.cpuMsPerRequest).reduce((a, b) => a + b, 0);
    const darkroomMiss = fastest(darkroomRuns);
    const floorMiss = fastest(floorRuns);

    // (a, same machine) both at once, the core theirs in turns.
    const [darkroomDuty, floorDuty] = await dutyCycled(
      [
        { pid: darkroom.child.pid, urls: dutyKeys.map((key) => variantUrl('bench', key)), headers: { Accept: browserAccept } },
        { pid: floor.child.pid, urls: Array.from({ length: 100_000 }, () => `${floor.url}/`), headers: {} },
      ],
      clients,
      dutyTiming,
    );

    // (b) a stored variant through the CDN vs an original of the same byte size.
    // A key no earlier request asked the CDN for, so the CDN's first answer for it is the stored variant.
    const hitKey = keys12.at(-1) ?? '';
    const made = await get(variantUrl('direct', hitKey), { Accept: browserAccept });
    const twinKey = publicKey('twin.jpg');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${twinKey}`, Body: jpegBytes(made.bytes), ContentType: 'image/jpeg' }));
    const hitUrl = variantUrl('bench', hitKey);
    const twinUrl = `${darkroom.url}/darkroom/bench/v2/images/${twinKey}`;
    // Fill the CDN's cache with both, then warm, then short turns in pairs, in ABBA order: both
    // URLs are served by the one darkroom, so the machine's drift (tens of seconds) is shared by
    // taking turns often, not by stopping a process.
    for (const url of [hitUrl, twinUrl]) await get(url, { Accept: browserAccept });
    await wrk(hitUrl, { Accept: browserAccept }, 2);
    await wrk(twinUrl, { Accept: browserAccept }, 2);
    const hits: HitTurn[] = [];
    const twins: HitTurn[] = [];
    for (let pair = 0; pair < hitPairs; pair += 1) {
      const turns: [string, HitTurn[]][] = [
        [hitUrl, hits],
        [twinUrl, twins],
      ];
      for (const [url, runs] of pair % 2 === 0 ? turns : turns.reverse()) {
        const before = await processCpuMs(darkroom.child.pid);
        const profile = pair === 0 && process.env.BENCH_PROFILE_HITS ? `${process.env.BENCH_PROFILE_HITS}-${url === hitUrl ? 'variant' : 'original'}.cpuprofile` : undefined;
        const run = await profiled(darkroom.child.pid, profile, () => wrk(url, { Accept: browserAccept }));
        runs.push({ ...run, cpuMs: (await processCpuMs(darkroom.child.pid)) - before });
      }
    }
    const hit = summarise(hits);
    const twin = summarise(twins);
    // darkroom's CPU per answer over all turns of a URL: the cost of a read, whichever core limits the turn's throughput.
    const cpuPerAnswer = (runs: readonly HitTurn[]) => runs.reduce((sum, run) => sum + run.cpuMs, 0) / runs.reduce((sum, run) => sum + run.rps * wrkSeconds, 0);

    const metrics = await metricsText(adminPort);
    const counters = metrics
      .split('\n')
      .filter((line) => /^darkroom_(variant_requests_total|cdn_fallbacks_total)\{/.test(line))
      .join('; ');

    lines.push(
      `(a) Misses, ${clients} concurrent clients, ${missesPerRun} requests a run, 12 MP JPEG (${fmt(photo12.length / 1024 / 1024, 1)} MB) → 640 px WebP, best of ${missRounds} alternating runs:`,
      '',
      '| server | transforms/s | p50 ms | p99 ms | failures |',
      '| --- | ---: | ---: | ---: | ---: |',
      `| darkroom (lookup CDN+storage, original via CDN, transform, store) | ${fmt(darkroomMiss.perSecond, 1)} | ${fmt(darkroomMiss.p50Ms)} | ${fmt(darkroomMiss.p99Ms)} | ${darkroomMiss.failures} |`,
      `| bare node:http + sharp from memory | ${fmt(floorMiss.perSecond, 1)} | ${fmt(floorMiss.p50Ms)} | ${fmt(floorMiss.p99Ms)} | ${floorMiss.failures} |`,
      `| (all runs, darkroom / floor) | ${darkroomRuns.map((run) => fmt(run.perSecond, 1)).join(', ')} / ${floorRuns.map((run) => fmt(run.perSecond, 1)).join(', ')} | | | |`,
      '',
      `Both at once, ${clients} clients each, the core theirs in turns of ${dutyTiming.sliceMs} ms (SIGSTOP / SIGCONT), ${dutyTiming.windowSeconds} s measured after ${dutyTiming.settleSeconds} s: transforms per second of the time each held the core:`,
      '',
      '| server | transforms/s | answers | seconds held | failures | CPU ms per answer |',
      '| --- | ---: | ---: | ---: | ---: | --- |',
      ...(
        [
          ['darkroom', darkroomDuty],
          ['bare node:http + sharp from memory', floorDuty],
        ] as const
      ).map(([name, duty]) => `| ${name} | ${fmt(duty.perSecond, 1)} | ${duty.completions} | ${fmt(duty.heldSeconds, 1)} | ${duty.failures} | ${cpuLine(duty.cpuMsPerRequest)} |`),
      '',
      'CPU ms per request on the servers\' core, by thread, in the better run:',
      `- darkroom: ${cpuLine(darkroomMiss.cpuMsPerRequest)}`,
      `- darkroom's collections per request: ${darkroomMiss.gcPerRequest}`,
      `- floor: ${cpuLine(floorMiss.cpuMsPerRequest)}`,
      '',
      `(b) Hit via the CDN path, wrk ${clients} connections, ${hitPairs} pairs of ${wrkSeconds} s turns in ABBA order (req/s: the mean of the turns; p50, p99: their median), variant of ${made.bytes} bytes:`,
      '',
      '| URL | req/s | p50 ms | p99 ms | errors |',
      '| --- | ---: | ---: | ---: | ---: |',
      `| stored variant (?w=640, Accept: image/webp) | ${fmt(hit.rps)} | ${fmt(hit.p50Ms, 2)} | ${fmt(hit.p99Ms, 2)} | ${hit.errors} |`,
      `| original of the same size | ${fmt(twin.rps)} | ${fmt(twin.p50Ms, 2)} | ${fmt(twin.p99Ms, 2)} | ${twin.errors} |`,
      '',
      `(c) RSS, 16 concurrent misses on 24 MP JPEGs (${fmt(photo24.length / 1024 / 1024, 1)} MB), chart memory limit 512 MiB:`,
      '',
      '| moment | RSS MiB |',
      '| --- | ---: |',
      `| idle (started, no request yet; V8 heap ${fmt(idleHeap.heap, 1)}, external ${fmt(idleHeap.external, 1)}) | ${fmt(idle, 1)} |`,
      `| peak under the 16 misses (${fmt(big.perSecond, 1)}/s, p99 ${fmt(big.p99Ms)} ms, ${big.failures} failures) | ${fmt(peak, 1)} |`,
      `| 10 s after the load (1 s samples: ${afterSamples.map((mib) => fmt(mib)).join(', ')}; V8 heap ${fmt(afterHeap.heap, 1)}, external ${fmt(afterHeap.external, 1)}) | ${fmt(after, 1)} |`,
    );
    ratios.push(
      `Miss throughput on the same machine (duty-cycled): ${fmt((darkroomDuty.perSecond / floorDuty.perSecond) * 100)} % of the bare sharp server (target ≥ 90 %)`,
      `Miss throughput: ${fmt((darkroomMiss.perSecond / floorMiss.perSecond) * 100)} % of the bare sharp server (target ≥ 90 %); p99 ${fmt(darkroomMiss.p99Ms)} ms vs ${fmt(floorMiss.p99Ms)} ms`,
      // The same comparison without picking the best of each: every round's darkroom run against the floor run next to it.
      `Miss throughput round by round: ${darkroomRuns.map((run, round) => `${fmt((run.perSecond / (floorRuns[round]?.perSecond ?? Number.NaN)) * 100)} %`).join(', ')}; CPU per miss, floor / darkroom, in the best runs: ${fmt((cpuTotal(floorMiss) / cpuTotal(darkroomMiss)) * 100)} %`,
      `Hit via CDN: ${fmt((hit.rps / twin.rps) * 100)} % of the same-size original's throughput (target ≥ 90 %); p99 ${fmt(hit.p99Ms, 2)} ms vs ${fmt(twin.p99Ms, 2)} ms; pair by pair: ${hits.map((run, pair) => fmt((run.rps / (twins[pair]?.rps ?? Number.NaN)) * 100)).join(', ')} %; darkroom's CPU per answer, original / stored variant: ${fmt(cpuPerAnswer(twins) * 1000)} / ${fmt(cpuPerAnswer(hits) * 1000)} µs = ${fmt((cpuPerAnswer(twins) / cpuPerAnswer(hits)) * 100)} %`,
      `RSS: peak ${fmt(peak, 1)} MiB = ${fmt((peak / 512) * 100)} % of the 512 MiB limit; after the load ${fmt(((after - idle) / idle) * 100, 1)} % above idle (target within 20 %)`,
      `darkroom counters: ${counters}`,
    );
  } finally {
    await Promise.all([darkroom.stop(), floor.stop()]);
    client.destroy();
    agent.destroy();
    await cdn.close();
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  }
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(`\nVariants, production build (plain node on dist/), servers on CPU 0 with the image's environment ${JSON.stringify(image.env)} and node flags ${JSON.stringify(image.nodeArgs)}, UV_THREADPOOL_SIZE=4, DARKROOM_TRANSFORM_CONCURRENCY=2, 1 libvips thread per transform; load average at the end ${load}.\n`);
  console.log(lines.join('\n'));
  console.log(`\n${ratios.map((line) => `- ${line}`).join('\n')}\n`);
}

const [mode, config] = process.argv.slice(2);
if (mode === 'serve-sharp-floor') await serveSharpFloor(JSON.parse(config ?? '{}') as Parameters<typeof serveSharpFloor>[0]);
else await main();
