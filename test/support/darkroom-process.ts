/**
 * darkroom as its own process (`src/main.ts` through tsx, or the production build `dist/main.js`),
 * configured only by its environment, as a pod is: so a test can SIGKILL or SIGTERM a replica and
 * watch another take over. Its JSON log lines are collected for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './ports.js';
import { repositoryRoot } from './real-kube.js';

/** Options of {@link startDarkroomProcess}. */
export interface DarkroomProcessOptions {
  /** Replica identity (POD_NAME). */
  readonly podName: string;
  /** The pod's namespace (POD_NAMESPACE): watched, and where the Lease lives. */
  readonly namespace: string;
  readonly kubeconfigPath: string;
  readonly s3Endpoint: string;
  /** The pod's ambient S3 identity (the SDK's default chain). */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** `src` runs src/main.ts through tsx (tests); `dist` runs the production build (benches). Default `src`. */
  readonly entry?: 'src' | 'dist';
  /** With `entry: 'dist'`: another build's main.js (a baseline from an older commit). Default dist/main.js. */
  readonly mainScript?: string;
  readonly env?: Record<string, string>;
}

/** A running darkroom process. */
export interface DarkroomProcess {
  readonly podName: string;
  readonly url: string;
  readonly adminUrl: string;
  readonly logLines: Record<string, unknown>[];
  readonly child: ChildProcess;
  /** Sends `signal` and resolves when the process has exited. */
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** The value of one series on /metrics (`labels` as in the exposition, e.g. `app="shop"`). */
  metric(name: string, labels?: string): Promise<number | undefined>;
}

export async function startDarkroomProcess(options: DarkroomProcessOptions): Promise<DarkroomProcess> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const args = options.entry === 'dist' ? [options.mainScript ?? join(repositoryRoot, 'dist/main.js')] : ['--import', 'tsx', join(repositoryRoot, 'src/main.ts')];
  const child = spawn(process.execPath, args, {
    cwd: repositoryRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      // The test's clock: under faketime the replica must see the same time as the test.
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => /^(LD_PRELOAD|FAKETIME.*|DONT_FAKE_MONOTONIC|TZ)$/.test(key))),
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KUBECONFIG: options.kubeconfigPath,
      DARKROOM_APPS_FILE: '',
      POD_NAME: options.podName,
      POD_NAMESPACE: options.namespace,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      HOST: '127.0.0.1',
      DARKROOM_S3_ENDPOINT: options.s3Endpoint,
      DARKROOM_PUBLIC_BASE_URL: 'https://img.example.test',
      AWS_ACCESS_KEY_ID: options.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: options.credentials.secretAccessKey,
      AWS_REGION: 'us-east-1',
      LOG_LEVEL: 'info',
      ...options.env,
    },
  });
  const logLines: Record<string, unknown>[] = [];
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    try {
      logLines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logLines.push({ msg: line });
    }
  });
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const exited = once(child, 'exit');
  // Up when the listeners answer (readiness may still say "config not synced").
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`darkroom ${options.podName} exited with ${child.exitCode}`);
    try {
      await fetch(`${url}/healthz`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`darkroom ${options.podName} did not listen within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    podName: options.podName,
    url,
    adminUrl,
    logLines,
    child,
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    async metric(name, labels = '') {
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      const line = text.split('\n').find((candidate) => candidate.startsWith(labels ? `${name}{${labels}}` : `${name} `));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    },
  };
}
