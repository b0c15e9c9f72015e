/**
 * A real Sentinel setup for tests and benches: a primary, one replica and three sentinels
 * (`redis-server <config> --sentinel`), all on free loopback ports. The primary can be killed
 * (SIGKILL); the sentinels then promote the replica by their own failover.
 *
 * Timings are chosen low so that a failover settles in a few seconds, and say what they stand
 * for: `down-after-milliseconds` 500 (production: 5–30 s) is how long a silent primary takes to
 * count as down, `failover-timeout` 2 000 bounds one failover attempt. The quorum is 2 of 3, as
 * in a production setup of three sentinels.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { killRedisProcess, spawnRedisProcess } from './redis-server.js';

export interface TestRedisSentinel {
  /** The primary's name in the sentinels' configuration: the value of REDIS_SENTINEL_NAME. */
  readonly name: string;
  /** `127.0.0.1:<port>,…` of the three sentinels: the value of REDIS_SENTINELS. */
  readonly sentinels: string;
  /** The port of the primary as the sentinels report it now. */
  primaryPort(): Promise<number>;
  /** Runs one command on the primary and the replica (ACLs are per server), e.g. `ACL SETUSER …`. */
  onEveryDataNode(command: string, ...args: string[]): Promise<void>;
  /** Kills the current primary at once (SIGKILL) and returns its port. */
  killPrimary(): Promise<number>;
  /**
   * Waits until every sentinel names a primary other than `oldPort` and that server answers as a
   * primary: the failover is complete.
   */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
  /** Stops every process and removes the setup's files. */
  stop(): Promise<void>;
}

const name = 'darkroom-test';

export async function startRedisSentinel(): Promise<TestRedisSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-redis-sentinel-'));
  const children = new Map<number, ChildProcess>();
  const stopAll = async () => {
    await Promise.all([...children.values()].map((child) => killRedisProcess(child)));
    await rm(dir, { recursive: true, force: true });
  };
  const dataPorts: number[] = [];
  const dataArgs = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir];
  const sentinelPorts: number[] = [];
  try {
    const primary = await freePort();
    const replica = await freePort();
    children.set(primary, await spawnRedisProcess(dataArgs(primary), primary));
    children.set(replica, await spawnRedisProcess([...dataArgs(replica), '--replicaof', '127.0.0.1', String(primary)], replica));
    dataPorts.push(primary, replica);
    await waitFor(async () => /master_link_status:up/.test(await ask(replica, (redis) => redis.info('replication'))), 'replica in sync', 10_000);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const config = join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its own configuration file (known replicas and sentinels, epochs).
      await writeFile(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primary} 2`,
          `sentinel down-after-milliseconds ${name} 500`,
          `sentinel failover-timeout ${name} 2000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      children.set(port, await spawnRedisProcess([config, '--sentinel'], port));
      sentinelPorts.push(port);
    }
    // A failover needs sentinels that know the replica and each other (they meet through hello
    // messages on the primary every 2 s).
    await waitFor(
      async () => {
        for (const port of sentinelPorts) {
          const fields = await sentinelMaster(port);
          if (fields['num-other-sentinels'] !== '2' || fields['num-slaves'] !== '1') return false;
        }
        return true;
      },
      'sentinels that know each other and the replica',
      20_000,
    );
  } catch (error) {
    await stopAll();
    throw error;
  }

  const primaryPort = async () => {
    const address = (await ask(sentinelPorts[0]!, (redis) => redis.call('SENTINEL', 'get-master-addr-by-name', name))) as [string, string];
    return Number(address[1]);
  };
  return {
    name,
    sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
    primaryPort,
    async onEveryDataNode(command, ...args) {
      await Promise.all(dataPorts.filter((port) => children.has(port)).map((port) => ask(port, (redis) => redis.call(command, ...args))));
    },
    async killPrimary() {
      const port = await primaryPort();
      await killRedisProcess(children.get(port));
      children.delete(port);
      return port;
    },
    async waitForFailover(oldPort, timeoutMs = 20_000) {
      let promoted = 0;
      await waitFor(
        async () => {
          const named = new Set<number>();
          for (const port of sentinelPorts) {
            const address = (await ask(port, (redis) => redis.call('SENTINEL', 'get-master-addr-by-name', name))) as [string, string];
            named.add(Number(address[1]));
          }
          const [candidate] = [...named];
          if (named.size !== 1 || candidate === undefined || candidate === oldPort) return false;
          if (!/role:master/.test(await ask(candidate, (redis) => redis.info('replication')))) return false;
          promoted = candidate;
          return true;
        },
        'a failover',
        timeoutMs,
      );
      return promoted;
    },
    stop: stopAll,
  };
}

async function sentinelMaster(port: number): Promise<Record<string, string>> {
  const flat = (await ask(port, (redis) => redis.call('SENTINEL', 'master', name))) as string[];
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}

async function ask<T>(port: number, run: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1_000, commandTimeout: 1_000 });
  redis.on('error', () => {});
  try {
    return await run(redis);
  } finally {
    redis.disconnect();
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = `: ${String(error)}`;
    }
    if (Date.now() > deadline) throw new Error(`test Sentinel setup: no ${what} within ${timeoutMs} ms${last}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
