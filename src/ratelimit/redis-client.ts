/**
 * Builds the ioredis client the rate limiter uses, for one Redis, a Redis Cluster or a
 * Sentinel-managed primary, tuned to fail fast rather than to wait: a rate decision is on the
 * request path of every upload, so a Redis that is down, slow or failing over must cost a few
 * milliseconds, never a queue of requests waiting for a reconnect, and a command the limiter has
 * given up on must never run later (it would count one upload twice).
 *
 * Cluster and Sentinel are ioredis' own: slot routing, `MOVED`/`ASK` redirections, topology
 * refreshes and asking the sentinels for the new primary after a failover all happen in the
 * library. The GCRA script runs unchanged on a Cluster: its one key is hash-tagged, so it lives in
 * one slot, and ioredis sends `EVAL` on each new node connection and `EVALSHA` after that.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { formatRedisAddress, type RedisConnection } from '../config/redis-connection.js';

/** The client of any topology: both speak the same commands, events and `defineCommand`. */
export type RedisClient = Redis | Cluster;

/** How long to wait for Redis, shared by every topology. */
export interface RedisTimeouts {
  /**
   * Backstop for a reply that never comes, in ms. Default 1 000. The limiter applies its own,
   * much shorter, decision timeout; this one only keeps a hung server from holding commands.
   */
  readonly commandTimeoutMs?: number;
  /** Longest wait for a TCP (and TLS) connection, in ms. Default 2 000. */
  readonly connectTimeoutMs?: number;
}

/** How to reach one standalone Redis and how long to wait for it. */
export interface RedisClientOptions extends RedisTimeouts {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
}

/** Reconnect delays: 50 ms doubling to at most `capMs` (default 2 s), plus jitter so replicas do not reconnect in step. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random, capMs = 2_000): number {
  return Math.min(50 * 2 ** Math.min(attempt - 1, 10), capMs) + Math.floor(random() * 100);
}

/**
 * After a Sentinel failover the old primary, once back, is a replica: a connection that still
 * reaches it gets READONLY. Reconnecting (1), without resending (the limiter decided already),
 * makes ioredis ask the sentinels again. ElastiCache's primary endpoint behaves the same.
 */
const reconnectOnReadOnly = (error: Error): 1 | false => (error.message.startsWith('READONLY') ? 1 : false);

/** The fail-fast options every connection shares, whatever the topology. */
function failFastOptions(timeouts: RedisTimeouts) {
  return {
    // A command sent before a connection broke is failed, never replayed on the next connection
    // (the caller has long since decided without it).
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: timeouts.commandTimeoutMs ?? 1_000,
    connectTimeout: timeouts.connectTimeoutMs ?? 2_000,
    reconnectOnError: reconnectOnReadOnly,
    // No auto-pipelining: it saves a few writes under load, but measured on the upload bench it kept
    // commands alive across young-generation collections (scavenges of 3–4 ms instead of 1, an old
    // generation growing by 2 MB per scavenge) and doubled the p99, for no throughput gain.
    enableAutoPipelining: false,
    connectionName: 'darkroom',
  } satisfies RedisOptions;
}

/** The client for one standalone Redis. */
export function createRedisClient(options: RedisClientOptions): Redis {
  return new Redis(options.url, {
    ...failFastOptions(options),
    // Not connected means "fail now", not "queue until connected": the limiter then decides in
    // memory (or refuses) instead of stalling uploads behind a reconnect.
    enableOfflineQueue: false,
    // Never give up: shared limits resume by themselves when Redis is back.
    retryStrategy: (attempt) => reconnectDelayMs(attempt),
    lazyConnect: true,
  });
}

/** The client for any topology the settings name. */
export function createRedisConnection(connection: RedisConnection, timeouts: RedisTimeouts = {}): RedisClient {
  switch (connection.kind) {
    case 'standalone':
      return createRedisClient({ url: connection.url, ...timeouts });
    case 'cluster':
      return createClusterClient(connection, timeouts);
    case 'sentinel':
      return createSentinelClient(connection, timeouts);
  }
}

function createClusterClient(connection: Extract<RedisConnection, { kind: 'cluster' }>, timeouts: RedisTimeouts): Cluster {
  const options: ClusterOptions = {
    // As for one Redis: no queue while the cluster is not ready.
    enableOfflineQueue: false,
    // ioredis' defaults retry a command after 100 ms when its node's connection closed
    // (`retryDelayOnFailover`) or the cluster answered CLUSTERDOWN (`retryDelayOnClusterDown`).
    // Such a retry would run after the limiter decided without it, so the command fails instead;
    // MOVED and ASK (the command did not run) are still followed at once.
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    // A refresh of the slot map that hangs must not hold the next one back for long.
    slotsRefreshTimeout: 1_000,
    // MOVED answers already trigger a refresh; the interval also catches promoted replicas and
    // resharding that no command has run into yet (ioredis 6 has no interval by default).
    slotsRefreshInterval: 5_000,
    // Only when no node at all answers: reconnect from the seeds, never give up.
    clusterRetryStrategy: (attempt) => reconnectDelayMs(attempt),
    enableAutoPipelining: false,
    lazyConnect: true,
    redisOptions: {
      ...failFastOptions(timeouts),
      ...(connection.auth.username === undefined ? {} : { username: connection.auth.username }),
      ...(connection.auth.password === undefined ? {} : { password: connection.auth.password }),
      ...(connection.tls ? { tls: {} } : {}),
    },
    // With TLS the seeds are connected by name, so that the certificate (issued for the name, as
    // ElastiCache's and Memorystore's are) verifies; ioredis would otherwise resolve them to IPs.
    ...(connection.tls ? { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) } : {}),
  };
  const cluster = new Cluster(
    connection.nodes.map((node) => ({ host: node.host, port: node.port })),
    options,
  );
  // ioredis opens a node's connection on the first command for it, and with the offline queue off
  // refuses every other command for that node until the connection is up: the first burst after
  // a start or a failover would go to the failure mode. So each node the slot map names (a
  // promoted replica included) is connected as soon as it is named.
  cluster.on('+node', (node: Redis) => {
    if (node.status === 'wait') node.connect().catch(() => {});
  });
  return cluster;
}

/**
 * Connects. For a Cluster that means the slot map, then one answer from every primary, so that
 * the first decisions after a start find their node's connection up.
 */
export async function connectRedisClient(client: RedisClient): Promise<void> {
  await client.connect();
  if (client instanceof Cluster) await Promise.all(client.nodes('master').map((node) => node.ping()));
}

function createSentinelClient(connection: Extract<RedisConnection, { kind: 'sentinel' }>, timeouts: RedisTimeouts): Redis {
  return new Redis({
    ...failFastOptions(timeouts),
    sentinels: connection.sentinels.map((sentinel) => ({ host: sentinel.host, port: sentinel.port })),
    name: connection.name,
    role: 'master',
    ...(connection.auth.username === undefined ? {} : { username: connection.auth.username }),
    ...(connection.auth.password === undefined ? {} : { password: connection.auth.password }),
    ...(connection.sentinelPassword === undefined ? {} : { sentinelPassword: connection.sentinelPassword }),
    ...(connection.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // Hears the sentinels' +switch-master and moves to the new primary at once, also when the old
    // one is cut off rather than down (its connection would otherwise look healthy).
    failoverDetector: true,
    sentinelCommandTimeout: timeouts.connectTimeoutMs ?? 2_000,
    enableOfflineQueue: false,
    // The sentinels answer within milliseconds, so reconnect attempts stay frequent (at most
    // 500 ms apart): shared limits resume soon after the sentinels have promoted a replica.
    retryStrategy: (attempt) => reconnectDelayMs(attempt, Math.random, 500),
    sentinelRetryStrategy: (attempt) => reconnectDelayMs(attempt, Math.random, 500),
    lazyConnect: true,
  });
}

/** Where the limiter's Redis is, for logs: never a password. */
export function describeRedisConnection(connection: RedisConnection): string {
  switch (connection.kind) {
    case 'standalone':
      return redactRedisUrl(connection.url);
    case 'cluster':
      return `cluster ${connection.nodes.map(formatRedisAddress).join(',')}${connection.tls ? ' (TLS)' : ''}`;
    case 'sentinel':
      return `sentinel primary "${connection.name}" via ${connection.sentinels.map(formatRedisAddress).join(',')}${connection.tls ? ' (TLS)' : ''}`;
  }
}

/** The URL without its password, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis://(unparseable)';
  }
}
