/**
 * A real nginx (the Debian package) as the CDN in tests: a caching reverse proxy in front of the
 * storage origin, started as a non-daemon child process with a generated config in a temporary
 * directory, on a free loopback port that survives restarts.
 *
 * Modes, each a different generated config (nginx is restarted on the same port to switch):
 * - `healthy`: `proxy_pass` to `http://{origin}/{bucket}/` with `proxy_cache` (404s cached too,
 *   like a CDN's negative cache);
 * - `slow`: proxies to a loopback socket that accepts and never answers (a hung CDN edge);
 * - `5xx`: answers every request with 503.
 * `stop()` leaves the port closed (connection refused), as a dead CDN.
 */
import { freePort } from './stack.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type NginxCdnMode = 'healthy' | 'slow' | '5xx';

export interface NginxCdnOptions {
  /** The storage origin nginx fetches from (no auth: it plays the CDN's privileged identity). */
  readonly origin: { host: string; port: number };
  readonly bucket: string;
  /** Port to listen on; default a free one. */
  readonly port?: number;
  /** nginx binary; default `/usr/sbin/nginx` (Debian's nginx-light). */
  readonly binary?: string;
}

export interface NginxCdn {
  /** `http://127.0.0.1:{port}`: the app's `cdn.url`. */
  readonly url: string;
  readonly port: number;
  readonly mode: NginxCdnMode | 'stopped';
  /** (Re)starts nginx on the same port in `mode`. */
  start(mode?: NginxCdnMode): Promise<void>;
  /** Stops nginx; the port then refuses connections. */
  stop(): Promise<void>;
  /** Requests answered so far (lines in the access log). */
  requestCount(): Promise<number>;
  /** Access log entries so far: path, status and body bytes sent to darkroom. */
  accessLog(): Promise<{ path: string; status: number; bytesSent: number }[]>;
  /** Stops nginx and the hung upstream, and removes the directory. */
  close(): Promise<void>;
}

export { freePort };

/** A TCP server that accepts connections and never answers: the "slow" CDN's upstream. */
async function startBlackhole(): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function nginxConfig(dir: string, port: number, mode: NginxCdnMode, upstream: string): string {
  // The slow mode does not cache: nginx keeps a cacheable upstream request going after its client
  // left, and would then never log the client's abort (499) that the tests look for.
  const location =
    mode === '5xx'
      ? 'return 503;'
      : `proxy_pass ${upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 60s;
      proxy_cache ${mode === 'slow' ? 'off' : 'cdn'};
      proxy_cache_valid 200 206 10m;
      proxy_cache_valid 404 10m;
      add_header X-Cache-Status $upstream_cache_status;`;
  return nginxConfigFile(dir, {
    workerConnections: 256,
    http: `proxy_cache_path ${dir}/cache levels=1:2 keys_zone=cdn:1m max_size=64m inactive=10m use_temp_path=off;
  keepalive_requests 100000;`,
    server: `    listen 127.0.0.1:${port};
    location / {
      ${location}
    }`,
  });
}

/**
 * A whole nginx.conf for a test nginx that keeps everything (pid, logs, temp files) in `dir`, runs
 * in the foreground as one process, and serves one `server` block; `http` adds directives there.
 */
export function nginxConfigFile(dir: string, parts: { workerConnections: number; http?: string; server: string }): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${parts.workerConnections}; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
${parts.http ? `  ${parts.http}\n` : ''}  server {
${parts.server}
  }
}
`;
}

/**
 * Resolves once something accepts connections on the loopback `port`. Rejects when `child` (the
 * process that should listen) exits first, or after `deadlineMs`. Also used by the read benchmark.
 */
export async function waitForPort(port: number, child: ChildProcess, deadlineMs = 5_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > until) throw new Error(`${child.spawnfile} did not listen on ${port} within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function readAccessLog(dir: string): Promise<{ path: string; status: number; bytesSent: number }[]> {
  const log = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '');
  return log
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      // nginx's "combined" format: ... "GET /path HTTP/1.1" status bytes "referer" "agent"
      const match = /"[A-Z]+ (\S+) [^"]*" (\d{3}) (\d+)/.exec(line);
      return { path: match?.[1] ?? '', status: Number(match?.[2] ?? 0), bytesSent: Number(match?.[3] ?? 0) };
    });
}

export async function startNginxCdn(options: NginxCdnOptions, initialMode: NginxCdnMode = 'healthy'): Promise<NginxCdn> {
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-nginx-'));
  await mkdir(join(dir, 'logs'));
  const port = options.port ?? (await freePort());
  const binary = options.binary ?? '/usr/sbin/nginx';
  const blackhole = await startBlackhole();
  let child: ChildProcess | undefined;
  let mode: NginxCdnMode | 'stopped' = 'stopped';
  let stderr = '';

  async function stop(): Promise<void> {
    const running = child;
    child = undefined;
    mode = 'stopped';
    if (!running || running.exitCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }

  async function start(next: NginxCdnMode = 'healthy'): Promise<void> {
    await stop();
    const upstream =
      next === 'slow'
        ? `http://127.0.0.1:${blackhole.port}/${options.bucket}/`
        : `http://${options.origin.host}:${options.origin.port}/${options.bucket}/`;
    await writeFile(join(dir, 'nginx.conf'), nginxConfig(dir, port, next, upstream));
    // -e: the startup error log goes to our directory, not the system's.
    const spawned = spawn(binary, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    spawned.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // nginx is not our process group's: if this process dies without close(), take nginx along.
    const killOnExit = (): void => void spawned.kill('SIGKILL');
    process.once('exit', killOnExit);
    spawned.once('exit', () => process.off('exit', killOnExit));
    child = spawned;
    try {
      await waitForPort(port, spawned);
    } catch (error) {
      await stop();
      throw new Error(`${(error as Error).message}: ${stderr}`);
    }
    mode = next;
  }

  await start(initialMode);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get mode() {
      return mode;
    },
    start,
    stop,
    async requestCount() {
      return (await readAccessLog(dir)).length;
    },
    accessLog: () => readAccessLog(dir),
    async close() {
      await stop();
      await blackhole.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
