/**
 * A real `redis-server` for tests, on a free loopback port, with no persistence. It can be killed
 * (SIGKILL, as a crashed pod) and started again on the same port, empty, as a restarted one, or
 * frozen (SIGSTOP) to play a server that accepts connections but never answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { freePort } from './ports.js';
import { realClockEnv } from './real-clock.js';

const redisServerBinary = '/usr/bin/redis-server';

export interface TestRedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Kills the server at once (SIGKILL): connections drop, nothing is saved. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty) and waits until it answers. */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open but nothing is answered, as a hung server. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
  /** Stops it for good. */
  stop(): Promise<void>;
}

/** Extra `redis-server` arguments, e.g. `['--requirepass', 'secret']`. */
export async function startRedisServer(extraArgs: string[] = []): Promise<TestRedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port, extraArgs);
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    async restart() {
      await kill();
      child = await launch(port, extraArgs);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      child?.kill('SIGCONT');
      await kill();
    },
  };
}

async function launch(port: number, extraArgs: string[]): Promise<ChildProcess> {
  return spawnRedisProcess(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extraArgs], port);
}

/**
 * Starts `redis-server` with `args` and waits until it accepts connections on `port` (10 s at
 * most). Shared by the standalone server, the Cluster nodes and the sentinels.
 */
export async function spawnRedisProcess(args: string[], port: number): Promise<ChildProcess> {
  // On the real clock also when the suite runs under libfaketime (see real-clock.ts).
  const child = spawn(redisServerBinary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: realClockEnv() });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not listen on ${port} within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Keep draining its output so that a chatty server never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** Kills a Redis process at once (SIGKILL, after SIGCONT in case it was frozen) and waits for it to exit. */
export async function killRedisProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGCONT');
  child.kill('SIGKILL');
  await exited;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

