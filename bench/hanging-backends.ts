/**
 * Hanging and slow backends against the production build: darkroom (`node dist/main.js`, default
 * deadlines: storage 10 s to headers, 15 s body idle; CDN `cdn.timeoutMs` default 1 s) in a child
 * process, with real loopback TCP peers playing S3, GCS and the CDN that accept and never answer,
 * send headers then stall the body, or answer slowly. The CDN app's storage is the embedded S3
 * (healthy), so a CDN case shows the fallback.
 *
 * Part 1: for each provider, behaviour and operation (get, head, range, conditional), the status,
 * the time to the response headers and to the end of the response (complete or cut).
 * Part 2: RSS, the V8 heap after a full collection, and open file descriptors of darkroom before
 * and after 10^4 reads per scenario against hanging backends (clients that give up, stalled
 * bodies, a CDN that never answers): no growth from leaked sockets or bodies. darkroom runs with
 * `--expose-gc` and a preload that collects on SIGUSR2, so the heap
 * figure is live memory, not garbage a busy process has not yet collected.
 *
 * Usage: `npm run bench:hanging` (builds first; about three minutes). BENCH_READS (default 10000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startEmbeddedS3 } from '../src/devstorage/embedded-s3.js';
import { peerObject, startHangingPeer, type HangingPeer, type PeerBehaviour } from '../test/support/hanging-peer.js';
import { freePort, waitForPort } from '../test/support/nginx-cdn.js';
import { rssMiB } from './servers.js';

const reads = Number(process.env.BENCH_READS ?? 10_000);
const bucket = 'bench-bucket';
const key = `${'ab'.repeat(16)}-photo.jpg`;

interface Timing {
  status: number | string;
  headersMs: number | undefined;
  endMs: number;
  bytes: number;
  ended: 'complete' | 'cut' | 'error';
}

/** One read as a client makes it, timed to the headers and to the end. */
function timedRead(port: number, path: string, init: { method?: string; headers?: Record<string, string>; leaveAfterMs?: number; leaveAfterFirstChunk?: boolean; agent?: Agent }): Promise<Timing> {
  const started = performance.now();
  return new Promise((resolve) => {
    let headersMs: number | undefined;
    let status: number | string = 'none';
    let bytes = 0;
    let done = false;
    const finish = (ended: Timing['ended']): void => {
      if (done) return;
      done = true;
      resolve({ status, headersMs, endMs: performance.now() - started, bytes, ended });
    };
    const request = httpRequest({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers, agent: init.agent ?? false }, (response) => {
      headersMs = performance.now() - started;
      status = response.statusCode ?? 0;
      const expected = Number(response.headers['content-length'] ?? -1);
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (init.leaveAfterFirstChunk) request.destroy();
      });
      response.on('end', () => finish(init.method === 'HEAD' || expected < 0 || bytes === expected ? 'complete' : 'cut'));
      response.on('error', () => finish('cut'));
      response.on('close', () => finish(bytes === expected || init.method === 'HEAD' ? 'complete' : 'cut'));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      status = status === 'none' ? (error.code ?? 'error') : status;
      finish(headersMs === undefined ? 'error' : 'cut');
    });
    if (init.leaveAfterMs !== undefined) setTimeout(() => request.destroy(), init.leaveAfterMs);
    request.end();
  });
}

/** RSS, open file descriptors, and the V8 heap in use after a full collection (SIGUSR2). */
async function memoryOf(pid: number, adminPort: number): Promise<{ rssMiB: number; fds: number; heapMiB: number }> {
  process.kill(pid, 'SIGUSR2');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const rss = await rssMiB(pid);
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const heapBytes = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? Number.NaN);
  return { rssMiB: rss, fds: (await readdir(`/proc/${pid}/fd`)).length, heapMiB: heapBytes / 1024 / 1024 };
}

/** Waits until darkroom is ready (its apps loaded), not merely listening. */
async function waitForReady(port: number): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.ok, () => false);
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('darkroom did not become ready');
}

async function main(): Promise<void> {
  const credentials = { accessKeyId: `BENCH${randomBytes(4).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
  const s3 = await startEmbeddedS3({ bucket, credentials });
  const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: `img/${key}`, Body: peerObject, ContentType: 'image/jpeg' }));
  client.destroy();

  const peers: Record<'s3' | 'gcs' | 'cdn' | 'cdnFast', HangingPeer> = {
    s3: await startHangingPeer({ kind: 'silent' }),
    gcs: await startHangingPeer({ kind: 'silent' }),
    cdn: await startHangingPeer({ kind: 'silent' }),
    cdnFast: await startHangingPeer({ kind: 'silent' }),
  };
  const neverOpens = '{volumeThreshold: 10000, errorThresholdPercentage: 99}';
  const directory = await mkdtemp(join(tmpdir(), 'darkroom-hanging-'));
  const appsFile = join(directory, 'apps.yaml');
  await writeFile(
    appsFile,
    [
      ['s3', `storage: {provider: s3, bucket: ${bucket}, prefix: img/, region: us-east-1, endpoint: "${peers.s3.endpoint}"}`],
      ['gcs', `storage: {provider: gcs, bucket: ${bucket}, prefix: img/, endpoint: "${peers.gcs.endpoint}"}`],
      ['cdn', `storage: {provider: s3, bucket: ${bucket}, prefix: img/, region: us-east-1}\ncdn: {url: "${peers.cdn.endpoint}", breaker: ${neverOpens}}`],
      ['cdnfast', `storage: {provider: s3, bucket: ${bucket}, prefix: img/, region: us-east-1}\ncdn: {url: "${peers.cdnFast.endpoint}", timeoutMs: 50, breaker: ${neverOpens}}`],
    ]
      .map(([name, spec]) => `apiVersion: darkroom.dev/v1alpha1\nkind: DarkroomApp\nmetadata: {name: ${name}}\nspec:\n  ${(spec as string).replaceAll('\n', '\n  ')}\n`)
      .join('---\n'),
  );
  const port = await freePort();
  const adminPort = await freePort();
  // SIGUSR2 runs a full collection (benchmark only), so the heap figure is live memory.
  const collectOnSignal = 'data:text/javascript,process.on("SIGUSR2",()=>globalThis.gc?.())';
  const darkroom: ChildProcess = spawn(process.execPath, ['--expose-gc', '--import', collectOnSignal, 'dist/main.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      HOST: '127.0.0.1',
      DARKROOM_APPS_FILE: appsFile,
      DARKROOM_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: 'us-east-1',
      LOG_LEVEL: 'fatal',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    await waitForPort(port, darkroom, 15_000);
    await waitForReady(port);
    const path = (app: string) => `/darkroom/${app}/v2/images/${key}`;
    const operations: [string, { method?: string; headers?: Record<string, string> }][] = [
      ['get', {}],
      ['head', { method: 'HEAD' }],
      ['range', { headers: { Range: 'bytes=100-199' } }],
      ['conditional', { headers: { 'If-None-Match': '"another-etag"' } }],
    ];
    const storageCases: [string, PeerBehaviour][] = [
      ['accepts, never answers', { kind: 'silent' }],
      ['headers, then stalls the body', { kind: 'stall-body', sentBytes: 16 * 1024 }],
      ['answers after 12 s', { kind: 'slow', delayMs: 12_000 }],
      ['answers after 2 s', { kind: 'slow', delayMs: 2_000 }],
    ];
    const cdnCases: [string, PeerBehaviour][] = [
      ['accepts, never answers', { kind: 'silent' }],
      ['headers, then stalls the body', { kind: 'stall-body', sentBytes: 16 * 1024 }],
      ['answers after 3 s', { kind: 'slow', delayMs: 3_000 }],
      ['answers after 0.5 s', { kind: 'slow', delayMs: 500 }],
    ];
    const rows: string[] = [];
    const row = (provider: string, behaviour: string, operation: string, timing: Timing): void => {
      const headers = timing.headersMs === undefined ? '—' : timing.headersMs.toFixed(0);
      rows.push(`| ${provider} | ${behaviour} | ${operation} | ${timing.status} | ${headers} | ${timing.endMs.toFixed(0)} | ${timing.ended} (${timing.bytes} B) |`);
    };
    for (const [provider, peer, app, cases] of [
      ['S3', peers.s3, 's3', storageCases],
      ['GCS', peers.gcs, 'gcs', storageCases],
      ['CDN (storage healthy)', peers.cdn, 'cdn', cdnCases],
    ] as const) {
      for (const [behaviourName, behaviour] of cases) {
        peer.behaviour = behaviour;
        const timings = await Promise.all(operations.map(([, init]) => timedRead(port, path(app), init)));
        operations.forEach(([operation], index) => row(provider, behaviourName, operation, timings[index] as Timing));
      }
    }
    process.stdout.write('\n| backend | behaviour | operation | status | headers ms | end ms | end |\n| --- | --- | --- | --- | ---: | ---: | --- |\n');
    process.stdout.write(`${rows.join('\n')}\n`);

    // Part 2: RSS before and after `reads` reads per scenario, 200 at a time.
    const pid = darkroom.pid as number;
    const agent = new Agent({ keepAlive: true, maxSockets: 200 });
    const batch = async (count: number, read: () => Promise<Timing>): Promise<Record<string, number>> => {
      const outcomes: Record<string, number> = {};
      let next = 0;
      await Promise.all(
        Array.from({ length: 200 }, async () => {
          while (next < count) {
            next += 1;
            const timing = await read();
            const label = `${timing.status}/${timing.ended}`;
            outcomes[label] = (outcomes[label] ?? 0) + 1;
          }
        }),
      );
      return outcomes;
    };
    const scenarios: [string, () => Promise<void>, () => Promise<Timing>][] = [
      ['S3 never answers, clients leave after 20 ms', async () => void (peers.s3.behaviour = { kind: 'silent' }), () => timedRead(port, path('s3'), { leaveAfterMs: 20, agent })],
      ['GCS never answers, clients leave after 20 ms', async () => void (peers.gcs.behaviour = { kind: 'silent' }), () => timedRead(port, path('gcs'), { leaveAfterMs: 20, agent })],
      ['S3 stalls the body, clients leave after the first chunk', async () => void (peers.s3.behaviour = { kind: 'stall-body', sentBytes: 16 * 1024 }), () => timedRead(port, path('s3'), { leaveAfterFirstChunk: true, agent })],
      ['GCS stalls the body, clients leave after the first chunk', async () => void (peers.gcs.behaviour = { kind: 'stall-body', sentBytes: 16 * 1024 }), () => timedRead(port, path('gcs'), { leaveAfterFirstChunk: true, agent })],
      ['CDN never answers (timeoutMs 50), storage serves', async () => void (peers.cdnFast.behaviour = { kind: 'silent' }), () => timedRead(port, path('cdnfast'), { agent })],
    ];
    const rssRows: string[] = [];
    for (const [name, setUp, read] of scenarios) {
      await setUp();
      await batch(Math.max(1, Math.floor(reads / 10)), read); // warm-up
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const before = await memoryOf(pid, adminPort);
      const started = performance.now();
      const outcomes = await batch(reads, read);
      const seconds = (performance.now() - started) / 1000;
      // Give abandoned upstream requests their chance to be released, then look.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const after = await memoryOf(pid, adminPort);
      rssRows.push(
        `| ${name} | ${reads} in ${seconds.toFixed(1)} s | ${Object.entries(outcomes).map(([label, count]) => `${label} ×${count}`).join(', ')} | ${before.rssMiB.toFixed(1)} → ${after.rssMiB.toFixed(1)} | ${before.heapMiB.toFixed(1)} → ${after.heapMiB.toFixed(1)} | ${before.fds} → ${after.fds} |`,
      );
    }
    agent.destroy();
    process.stdout.write('\n| scenario | reads | client saw | RSS MiB before → after | heap after GC MiB before → after | open fds before → after |\n| --- | --- | --- | ---: | ---: | --- |\n');
    process.stdout.write(`${rssRows.join('\n')}\n`);
    const openPeers = Object.entries(peers).map(([name, peer]) => `${name} ${peer.open}`).join(', ');
    process.stdout.write(`\nConnections still open at the peers after the runs: ${openPeers}.\n`);
  } finally {
    darkroom.kill('SIGKILL');
    await Promise.all(Object.values(peers).map((peer) => peer.close()));
    await s3.close();
    await rm(directory, { recursive: true, force: true });
  }
}

await main();
