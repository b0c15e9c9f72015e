/**
 * The upload-authorisation path with Redis, against two baselines measured in the same run on the
 * same Node: requests/s and p50/p99 at 32 connections, each server pinned to core 0 and the load
 * generator (wrk, one thread) to core 1.
 *
 * - darkroom: the real process (`src/main.ts`), REDIS_URL set, production log level, one app with
 *   a limit high enough never to refuse (owners vary too, as in real traffic).
 * - darkroom without access lines: the same with LOG_LEVEL=warn, which drops the info-level access
 *   line of every 2xx/4xx answer; shown for what the line costs, not used for the verdicts.
 * - baseline (a): a bare `node:http` server doing the same three things a typical implementation
 *   does: parse and validate the JSON body, one Redis round trip (the same GCRA script), presign
 *   with `getSignedUrl`.
 * - baseline (b): the same bare server with darkroom's presigner (`S3Presigner`).
 * - darkroom in `spec.auth.mode: jwt`, the same process as the first: every request carries a
 *   bearer token (RS256, then ES256; 500 owners' tokens) verified against a JWKS fetched once
 *   from a loopback endpoint, so the difference to header mode is the verification alone.
 * - darkroom in jwt mode while the JWKS endpoint hangs: a second darkroom process whose keys go
 *   stale every second (cache age and cooldown 1 s instead of 10 min and 30 s), so a background
 *   refresh to an endpoint that accepts and never answers (2 s deadline) is always in flight.
 *
 * darkroom runs from the production build (`dist/`, built by this script with `npm run build`'s
 * compiler settings); the baselines run from this file.
 * Presigning is local CPU, so no S3 runs: the endpoint is a dummy loopback URL that is never called.
 * Run: `npm run bench:upload` (about three minutes). Needs `redis-server`, `wrk` and `taskset`.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Redis } from 'ioredis';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createServer as createJwksHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { loadSettings as loadSettingsType } from '../src/config/settings.js';
import type { startDarkroom as startDarkroomType } from '../src/darkroom.js';
import { gcraScript, rateLimitKey } from '../src/ratelimit/redis-gcra-script.js';
import { createS3Client } from '../src/storage/s3-client.js';
import { S3Presigner } from '../src/storage/s3-presigner.js';
import { startRedisServer } from '../test/support/redis-server.js';
import { freePort } from '../test/support/ports.js';
import { presignWrkScript, runPresignWrk } from './presign-wrk.js';
import { stopChild } from './servers.js';

const connections = 32;
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const durationSeconds = Number(process.env.BENCH_DURATION_SECONDS ?? 5);
// Servers are measured in interleaved rounds and each reports its median round, so that a burst of
// unrelated load on the machine does not land on one server only.
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const owners = 5_000;
const dummyS3Endpoint = 'http://127.0.0.1:9';
const bucket = 'bench-bucket';
const benchLimit = { requests: 1_000_000, windowSeconds: 1 };
const root = fileURLToPath(new URL('..', import.meta.url));
const credentialsEnv = { AWS_ACCESS_KEY_ID: 'AKIDBENCHMARK', AWS_SECRET_ACCESS_KEY: 'bench-secret-key', AWS_REGION: 'us-east-1' };

interface Result {
  readonly name: string;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
}

// ---- baseline servers (run in a child process: `--serve a|b <port> <redisUrl>`) ----

const bodySchema = z
  .object({ file: z.string().min(1).max(1024), contentType: z.string().min(1).max(255).optional(), size: z.number().int().min(1).optional() })
  .strict();

async function serveBaseline(variant: 'a' | 'b', port: number, redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl);
  redis.defineCommand('gcra', { numberOfKeys: 1, lua: gcraScript });
  const runGcra = (redis as unknown as Record<string, (...args: unknown[]) => Promise<number[]>>).gcra!.bind(redis);
  const client = createS3Client({ region: 'us-east-1', endpoint: dummyS3Endpoint, forcePathStyle: true });
  const presigner = new S3Presigner(client, bucket);
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const owner = req.headers['x-owner-id'];
    if (typeof owner !== 'string' || owner === '') return send(res, 400, { error: 'MISSING_OWNER_ID' });
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return send(res, 400, { error: 'INVALID_JSON' });
    }
    const body = bodySchema.safeParse(json);
    if (!body.success) return send(res, 400, { error: 'INVALID_BODY' });
    const [allowed] = await runGcra(rateLimitKey('bench', owner), benchLimit.requests, benchLimit.windowSeconds, '');
    if (allowed !== 1) return send(res, 429, { error: 'RATE_LIMITED' });
    const key = `apps/bench/${owner}/${crypto.randomUUID()}-${body.data.file}`;
    const contentType = body.data.contentType ?? 'image/png';
    const signingDate = new Date();
    const url =
      variant === 'a'
        ? await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: contentType, ContentLength: body.data.size }), {
            expiresIn: 900,
            signableHeaders: new Set(['content-type', 'content-length']),
            signingDate,
          })
        : await presigner.presignPut({ key, contentType, contentLength: body.data.size, expiresInSeconds: 900, signingDate });
    send(res, 200, { success: true, data: { uploadURL: url, key, method: 'PUT', headers: { 'Content-Type': contentType } } });
  };
  const server = createHttpServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      handle(req, res, raw).catch(() => send(res, 500, { error: 'INTERNAL_ERROR' }));
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  process.stdout.write('listening\n');
}

// ---- the driver ----


async function waitForHttp(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      await fetch(url, { method: 'GET' });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Starts an entry point on core 0 with the same Node as this process (TypeScript through tsx). */
function spawnPinned(args: string[], env: Record<string, string>, { typescript = true } = {}): ChildProcess {
  const child = spawn('taskset', ['-c', '0', process.execPath, ...(typescript ? ['--import', 'tsx'] : []), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

const stop = (child: ChildProcess): Promise<void> => stopChild(child, 10_000);


/** The same load with a bearer token per owner instead of X-Owner-Id. */
function jwtWrkScript(tokens: readonly string[]): string {
  return presignWrkScript
    .replace('local counter = 0', `local counter = 0\nlocal tokens = { ${tokens.map((token) => `"${token}"`).join(', ')} }`)
    .replace('["X-Owner-Id"] = "owner-" .. (counter % owners)', '["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]');
}


function describe(result: Result): string {
  return (
    `${result.name}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms` +
    ` (errors ${result.errors}, non-2xx ${result.non2xx})`
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

interface Target {
  readonly name: string;
  readonly url: string;
  /** The wrk script generating its requests. */
  readonly script: string;
}

/** Warms every target up, then measures them in interleaved rounds; the median round of each. */
async function measureAll(targets: Target[]): Promise<Result[]> {
  for (const target of targets) await runPresignWrk(target.script, target.url, warmupSeconds, { connections, owners });
  const runs = new Map<string, Result[]>(targets.map((target) => [target.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const result = { name: target.name, ...(await runPresignWrk(target.script, target.url, durationSeconds, { connections, owners })) };
      process.stderr.write(`round ${round}/${rounds} ${describe(result)}\n`);
      runs.get(target.name)!.push(result);
    }
  }
  return targets.map((target) => {
    const results = runs.get(target.name)!;
    return {
      name: target.name,
      requestsPerSecond: median(results.map((result) => result.requestsPerSecond)),
      p50Ms: median(results.map((result) => result.p50Ms)),
      p99Ms: median(results.map((result) => result.p99Ms)),
      errors: results.reduce((sum, result) => sum + result.errors, 0),
      non2xx: results.reduce((sum, result) => sum + result.non2xx, 0),
    };
  });
}

function requireTools(): void {
  for (const [tool, args] of [
    ['wrk', ['--version']],
    ['taskset', ['--version']],
    ['redis-server', ['--version']],
  ] as const) {
    const probe = spawnSync(tool, [...args]);
    if (probe.error) throw new Error(`${tool} is needed for this bench (Debian package: ${tool === 'taskset' ? 'util-linux' : tool})`);
  }
}

/** Token pools and the JWKS endpoint they verify against (`/jwks`; `/jwks-hang` answers once, then never). */
async function startIssuer(): Promise<{ url: string; tokens: Record<'RS256' | 'ES256', string[]>; close(): Promise<void> }> {
  const keys = await Promise.all((['RS256', 'ES256'] as const).map(async (alg) => ({ alg, kid: `bench-${alg}`, ...(await generateKeyPair(alg, { extractable: true })) })));
  const jwks = JSON.stringify({ keys: await Promise.all(keys.map(async (key) => ({ ...(await exportJWK(key.publicKey)), kid: key.kid, alg: key.alg, use: 'sig' }))) });
  let hangServed = 0;
  const hanging = new Set<ServerResponse>();
  const server: Server = createJwksHttpServer((req, res) => {
    if (req.url === '/jwks-hang' && hangServed++ > 0) {
      hanging.add(res); // accepted, never answered
      return;
    }
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(jwks);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const now = Math.floor(Date.now() / 1000);
  const mint = (key: (typeof keys)[number], owner: number) =>
    new SignJWT({ sub: `owner-${owner}` }).setProtectedHeader({ alg: key.alg, kid: key.kid }).setIssuer(issuer).setAudience('bench').setIssuedAt(now).setExpirationTime(now + 7_200).sign(key.privateKey);
  const pool = (key: (typeof keys)[number]) => Promise.all(Array.from({ length: tokenOwners }, (_, owner) => mint(key, owner)));
  const [rs, es] = await Promise.all([pool(keys[0]!), pool(keys[1]!)]);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tokens: { RS256: rs, ES256: es },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const issuer = 'https://login.bench.test/';
const tokenOwners = 500;

/** `--serve-darkroom`: darkroom from dist/ in-process, with JWKS timings that keep keys stale. */
async function serveDarkroomWithStaleKeys(env: Record<string, string>): Promise<void> {
  const distDarkroom = pathToFileURL(join(root, 'dist/darkroom.js')).href;
  const distSettings = pathToFileURL(join(root, 'dist/config/settings.js')).href;
  const { startDarkroom } = (await import(distDarkroom)) as { startDarkroom: typeof startDarkroomType };
  const { loadSettings } = (await import(distSettings)) as { loadSettings: typeof loadSettingsType };
  await startDarkroom(loadSettings(env), { auth: { jwksPolicy: { cacheMaxAgeMs: 1_000, cooldownMs: 1_000, timeoutMs: 2_000 } } });
}

async function main(): Promise<void> {
  requireTools();
  // darkroom is measured as it ships: the production build.
  const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-bench-'));
  const redis = await startRedisServer();
  const issuerServer = await startIssuer();
  const children: ChildProcess[] = [];
  try {
    const scriptPath = join(dir, 'presign.lua');
    await writeFile(scriptPath, presignWrkScript);
    const jwtScripts = { RS256: join(dir, 'presign-rs256.lua'), ES256: join(dir, 'presign-es256.lua') };
    await writeFile(jwtScripts.RS256, jwtWrkScript(issuerServer.tokens.RS256));
    await writeFile(jwtScripts.ES256, jwtWrkScript(issuerServer.tokens.ES256));
    const appsFile = join(dir, 'apps.yaml');
    const app = (name: string, auth: string) =>
      [
        'apiVersion: darkroom.dev/v1alpha1',
        'kind: DarkroomApp',
        `metadata: {name: ${name}}`,
        'spec:',
        '  allowPublicUpload: true',
        `  storage: {provider: s3, bucket: ${bucket}}`,
        `  rateLimit: {requests: ${benchLimit.requests}, windowSeconds: ${benchLimit.windowSeconds}}`,
        ...(auth ? [`  auth: {mode: jwt, jwt: {jwksURL: "${issuerServer.url}${auth}", issuer: "${issuer}", audiences: [bench]}}`] : []),
        '',
      ].join('\n');
    await writeFile(appsFile, [app('bench', ''), app('bench-jwt', '/jwks'), app('bench-jwt-hang', '/jwks-hang')].join('---\n'));
    const path = (name: string) => `/darkroom/${name}/v1/images/presigned-urls`;
    const darkroomEnv = async (port: number, logLevel: string) => ({
      ...credentialsEnv,
      PORT: String(port),
      ADMIN_PORT: String(await freePort()),
      HOST: '127.0.0.1',
      DARKROOM_APPS_FILE: appsFile,
      DARKROOM_S3_ENDPOINT: dummyS3Endpoint,
      DARKROOM_PUBLIC_BASE_URL: 'https://img.example.test',
      REDIS_URL: redis.url,
      LOG_LEVEL: logLevel,
    });

    // All servers stay up (pinned to core 0, idle while another is measured).
    const targets: Target[] = [];
    let headerModePort = 0;
    for (const [name, logLevel] of [
      ['darkroom', 'info'],
      ['darkroom, LOG_LEVEL=warn (no access lines)', 'warn'],
    ] as const) {
      const port = await freePort();
      headerModePort ||= port;
      const darkroom = spawnPinned(['dist/main.js'], await darkroomEnv(port, logLevel), { typescript: false });
      children.push(darkroom);
      await waitForHttp(`http://127.0.0.1:${port}/readyz`, darkroom);
      targets.push({ name, url: `http://127.0.0.1:${port}${path('bench')}`, script: scriptPath });
    }
    for (const variant of ['a', 'b'] as const) {
      const port = await freePort();
      const baseline = spawnPinned(['bench/upload-authorisation.ts', '--serve', variant, String(port), redis.url], credentialsEnv);
      children.push(baseline);
      await waitForHttp(`http://127.0.0.1:${port}/`, baseline);
      const name = variant === 'a' ? 'baseline (a): node:http + getSignedUrl' : 'baseline (b): node:http + darkroom signer';
      targets.push({ name, url: `http://127.0.0.1:${port}${path('bench')}`, script: scriptPath });
    }
    // jwt mode on the first darkroom process: same process, same app settings, tokens instead of headers.
    for (const alg of ['RS256', 'ES256'] as const) {
      targets.push({ name: `darkroom, jwt mode ${alg} (cached key)`, url: `http://127.0.0.1:${headerModePort}${path('bench-jwt')}`, script: jwtScripts[alg] });
    }
    const hangPort = await freePort();
    const hanging = spawnPinned(['bench/upload-authorisation.ts', '--serve-darkroom'], await darkroomEnv(hangPort, 'info'));
    children.push(hanging);
    await waitForHttp(`http://127.0.0.1:${hangPort}/readyz`, hanging);
    targets.push({ name: 'darkroom, jwt mode RS256, JWKS endpoint hanging (keys stale, refresh always in flight)', url: `http://127.0.0.1:${hangPort}${path('bench-jwt-hang')}`, script: jwtScripts.RS256 });

    const results = await measureAll(targets);
    printSummary(results);
  } finally {
    await Promise.all(children.map(stop));
    await issuerServer.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function printSummary(results: Result[]): void {
  const [darkroom, quiet, a, b, jwtRs, jwtEs, hanging] = results as [Result, Result, Result, Result, Result, Result, Result];
  const ratioA = darkroom.requestsPerSecond / a.requestsPerSecond;
  const ratioB = darkroom.requestsPerSecond / b.requestsPerSecond;
  const row = (result: Result) =>
    `| ${result.name} | ${result.requestsPerSecond.toFixed(0)} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} |`;
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const lines = [
    '',
    `Upload authorisation (POST presigned-urls, Redis limit, S3 presign), Node ${process.versions.node},`,
    `${connections} connections, server on core 0, wrk on core 1; median of ${rounds} interleaved ${durationSeconds} s rounds after a ${warmupSeconds} s warm-up:`,
    '',
    '| server | req/s | p50 ms | p99 ms |',
    '| --- | ---: | ---: | ---: |',
    ...results.map(row),
    '',
    `darkroom / baseline (a): ${ratioA.toFixed(2)}× (target ≥ 2.5×: ${verdict(ratioA >= 2.5)})`,
    `darkroom / baseline (b): ${(ratioB * 100).toFixed(0)} % (target ≥ 70 %: ${verdict(ratioB >= 0.7)})`,
    `darkroom p99: ${darkroom.p99Ms.toFixed(2)} ms (target ≤ 10 ms: ${verdict(darkroom.p99Ms <= 10)})`,
    `without access lines (LOG_LEVEL=warn, for information): ${(quiet.requestsPerSecond / a.requestsPerSecond).toFixed(2)}× (a), ${((quiet.requestsPerSecond / b.requestsPerSecond) * 100).toFixed(0)} % of (b), p99 ${quiet.p99Ms.toFixed(2)} ms`,
    `jwt mode / header mode: RS256 ${((jwtRs.requestsPerSecond / darkroom.requestsPerSecond) * 100).toFixed(0)} %, ES256 ${((jwtEs.requestsPerSecond / darkroom.requestsPerSecond) * 100).toFixed(0)} % of header mode's req/s (p99 ${jwtRs.p99Ms.toFixed(2)} / ${jwtEs.p99Ms.toFixed(2)} ms against ${darkroom.p99Ms.toFixed(2)} ms)`,
    `JWKS endpoint hanging: p99 ${hanging.p99Ms.toFixed(2)} ms, ${((hanging.requestsPerSecond / jwtRs.requestsPerSecond) * 100).toFixed(0)} % of jwt mode's req/s with a healthy endpoint (the 2 s fetch deadline never reaches a request)`,
    ...(results.some((result) => result.errors > 0 || result.non2xx > 0)
      ? [`warning: errors or non-2xx answers: ${results.map((result) => `${result.name} ${result.errors}/${result.non2xx}`).join(', ')}`]
      : []),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

if (process.argv[2] === '--serve-darkroom') {
  await serveDarkroomWithStaleKeys(process.env as Record<string, string>);
} else if (process.argv[2] === '--serve') {
  const variant = process.argv[3] === 'b' ? 'b' : 'a';
  await serveBaseline(variant, Number(process.argv[4]), String(process.argv[5]));
} else {
  await main();
}
