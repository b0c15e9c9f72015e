/**
 * Where the shared rate-limit store lives: one Redis (`REDIS_URL`), a Redis Cluster
 * (`REDIS_CLUSTER_NODES`) or a Sentinel-managed primary (`REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`).
 * Plain data, checked by `settings.ts`; `ratelimit/redis-client.ts` turns it into an ioredis client.
 */

/** One `host:port`. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** How darkroom logs in to the data nodes of a Cluster or Sentinel setup (`REDIS_USERNAME`, `REDIS_PASSWORD`). */
export interface RedisAuth {
  /** An ACL user (Redis 6+); undefined means the `default` user. */
  readonly username: string | undefined;
  /** May be a secret: never logged. */
  readonly password: string | undefined;
}

/** One standalone Redis, everything (TLS, auth, database) in the URL. */
export interface StandaloneRedisConnection {
  readonly kind: 'standalone';
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`; may hold a password. */
  readonly url: string;
}

/** A Redis Cluster, found from seed nodes; the client learns the rest with `CLUSTER SLOTS`. */
export interface ClusterRedisConnection {
  readonly kind: 'cluster';
  /** Seed nodes (`REDIS_CLUSTER_NODES`); any one that answers is enough. */
  readonly nodes: readonly RedisAddress[];
  readonly auth: RedisAuth;
  /** TLS to every node (`REDIS_TLS=on`). */
  readonly tls: boolean;
}

/** A primary that Sentinel watches and fails over; the client asks the sentinels where it is. */
export interface SentinelRedisConnection {
  readonly kind: 'sentinel';
  /** `REDIS_SENTINELS`. */
  readonly sentinels: readonly RedisAddress[];
  /** The primary's name in the sentinels' configuration (`REDIS_SENTINEL_NAME`). */
  readonly name: string;
  /** Login to the primary. */
  readonly auth: RedisAuth;
  /** Login to the sentinels themselves (`REDIS_SENTINEL_PASSWORD`), when they require one. */
  readonly sentinelPassword: string | undefined;
  /** TLS to the primary and to the sentinels (`REDIS_TLS=on`). */
  readonly tls: boolean;
}

export type RedisConnection = StandaloneRedisConnection | ClusterRedisConnection | SentinelRedisConnection;

// A DNS name, an IPv4 address, or an IPv6 address in brackets; then a port.
const addressPattern = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)):(\d{1,5})$/;

/**
 * `host:port,host:port` as addresses (spaces around commas allowed), or undefined when any entry
 * is not a `host:port` with a port from 1 to 65535, or the list is empty.
 */
export function parseRedisAddresses(value: string): RedisAddress[] | undefined {
  const entries = value.split(',').map((entry) => entry.trim());
  const addresses: RedisAddress[] = [];
  for (const entry of entries) {
    const match = addressPattern.exec(entry);
    if (!match) return undefined;
    const port = Number(match[3]);
    if (port < 1 || port > 65535) return undefined;
    addresses.push({ host: match[1] ?? match[2]!, port });
  }
  return addresses.length > 0 ? addresses : undefined;
}

/** `host:port` as written in settings (IPv6 in brackets). */
export function formatRedisAddress(address: RedisAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
