/**
 * A real Redis Cluster for tests and benches: three primaries with one replica each, six
 * `redis-server --cluster-enabled yes` processes on free loopback ports, joined by
 * `redis-cli --cluster create … --cluster-replicas 1`. A primary can be killed (SIGKILL, as a
 * crashed pod); its replica then takes over by the cluster's own failover.
 *
 * Timings are chosen low so that a failover settles in about two seconds, and say what they stand
 * for: `cluster-node-timeout` 500 ms (production clusters use 5–15 s) is how long a silent primary
 * takes to count as failing; the replica's election follows within about a second, as in
 * production. `cluster-replica-validity-factor 0` lets a replica take over however long its link
 * was down, so that a busy test machine never leaves a shard without a primary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { realClockEnv } from './real-clock.js';
import { killRedisProcess, spawnRedisProcess } from './redis-server.js';

const redisCliBinary = '/usr/bin/redis-cli';
const slotCount = 16_384;

/** One node of the test cluster. */
export interface TestClusterNode {
  readonly port: number;
  /** False once killed. */
  readonly alive: boolean;
}

export interface TestRedisCluster {
  readonly nodes: readonly TestClusterNode[];
  /** `127.0.0.1:<port>,…` of every node: the value of REDIS_CLUSTER_NODES. */
  readonly seeds: string;
  /** The port of the live primary that serves `key`'s slot, as the cluster sees it now. */
  primaryPortFor(key: string): Promise<number>;
  /** The ports of the live primaries, as the cluster sees them now. */
  primaryPorts(): Promise<number[]>;
  /** Kills one node at once (SIGKILL). */
  kill(port: number): Promise<void>;
  /** Runs one command on every live node (ACLs and configuration are per node), e.g. `ACL SETUSER …`. */
  onEveryNode(command: string, ...args: string[]): Promise<void>;
  /**
   * Waits until every slot is served by a live primary in the view of every live node, and every
   * live node reports `cluster_state:ok`: after `kill`, that means the failover is complete.
   */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node and removes the cluster's files. */
  stop(): Promise<void>;
}

interface ClusterNodeLine {
  readonly port: number;
  readonly flags: readonly string[];
  /** Slot ranges as [first, last]. */
  readonly slots: readonly (readonly [number, number])[];
}

/** `CLUSTER NODES` lines: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`. */
export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(fields[1] ?? '')?.[1]);
      const slots = fields
        .slice(8)
        .filter((range) => !range.startsWith('['))
        .map((range): readonly [number, number] => {
          const [first, last] = range.split('-').map(Number) as [number, number | undefined];
          return [first, last ?? first];
        });
      return { port, flags: (fields[2] ?? '').split(','), slots };
    });
}

export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-redis-cluster-'));
  const ports: number[] = [];
  const busPorts: number[] = [];
  while (ports.length < 6) {
    const port = await freePort();
    const bus = await freePort();
    if (port === bus || ports.includes(port) || busPorts.includes(bus) || ports.includes(bus) || busPorts.includes(port)) continue;
    ports.push(port);
    busPorts.push(bus);
  }
  const children = new Map<number, ChildProcess>();
  const alive = new Set<number>();
  const stopAll = async () => {
    await Promise.all([...children.values()].map((child) => killRedisProcess(child)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      ports.map(async (port, index) => {
        const child = await spawnRedisProcess(
          [
            '--port', String(port),
            '--bind', '127.0.0.1',
            '--protected-mode', 'no',
            '--save', '',
            '--appendonly', 'no',
            '--dir', dir,
            '--cluster-enabled', 'yes',
            '--cluster-config-file', `nodes-${port}.conf`,
            '--cluster-port', String(busPorts[index]),
            '--cluster-node-timeout', '500',
            '--cluster-replica-validity-factor', '0',
          ],
          port,
        );
        children.set(port, child);
        alive.add(port);
      }),
    );
    await createCluster(ports);
  } catch (error) {
    await stopAll();
    throw error;
  }

  const admin = (port: number) =>
    new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1_000, commandTimeout: 1_000 });
  const ask = async <T>(port: number, run: (redis: Redis) => Promise<T>): Promise<T> => {
    const redis = admin(port);
    redis.on('error', () => {});
    try {
      return await run(redis);
    } finally {
      redis.disconnect();
    }
  };
  const viewOf = async (port: number) => parseClusterNodes(await ask(port, (redis) => redis.cluster('NODES') as Promise<string>));
  const livePrimaries = (view: ClusterNodeLine[]) =>
    view.filter((node) => node.flags.includes('master') && !node.flags.some((flag) => flag.startsWith('fail')) && alive.has(node.port));
  const anyLive = () => {
    const port = [...alive][0];
    if (port === undefined) throw new Error('no node of the test cluster is alive');
    return port;
  };

  const cluster: TestRedisCluster = {
    nodes: ports.map((port) => ({
      port,
      get alive() {
        return alive.has(port);
      },
    })),
    seeds: ports.map((port) => `127.0.0.1:${port}`).join(','),
    async primaryPortFor(key) {
      const port = anyLive();
      const slot = await ask(port, (redis) => redis.cluster('KEYSLOT', key));
      const owner = livePrimaries(await viewOf(port)).find((node) => node.slots.some(([first, last]) => slot >= first && slot <= last));
      if (!owner) throw new Error(`no live primary serves slot ${slot}`);
      return owner.port;
    },
    async primaryPorts() {
      return livePrimaries(await viewOf(anyLive())).map((node) => node.port);
    },
    async onEveryNode(command, ...args) {
      await Promise.all([...alive].map((port) => ask(port, (redis) => redis.call(command, ...args))));
    },
    async kill(port) {
      alive.delete(port);
      await killRedisProcess(children.get(port));
    },
    async waitUntilHealthy(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        try {
          const problems: string[] = [];
          for (const port of alive) {
            const info = await ask(port, (redis) => redis.cluster('INFO'));
            if (!/cluster_state:ok/.test(info)) problems.push(`${port}: state not ok`);
            const covered = livePrimaries(await viewOf(port)).reduce((sum, node) => sum + node.slots.reduce((n, [first, last]) => n + last - first + 1, 0), 0);
            if (covered !== slotCount) problems.push(`${port}: ${covered} slots served by live primaries`);
          }
          if (problems.length === 0) return;
          last = problems.join('; ');
        } catch (error) {
          last = String(error);
        }
        if (Date.now() > deadline) throw new Error(`test cluster not healthy within ${timeoutMs} ms: ${last}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop: stopAll,
  };
  try {
    await cluster.waitUntilHealthy();
  } catch (error) {
    await stopAll();
    throw error;
  }
  return cluster;
}

/** `redis-cli --cluster create`: assigns the slots to three primaries and a replica to each. */
async function createCluster(ports: number[]): Promise<void> {
  const child = spawn(redisCliBinary, ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // redis-cli shares redis-server's allocator, which libfaketime stops at start (see real-clock.ts).
    env: realClockEnv(),
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0 || !/All 16384 slots covered/.test(output)) throw new Error(`redis-cli --cluster create failed (${code}):\n${output}`);
}
