/**
 * Process settings, read from the environment once at start, validated with one clear message per
 * wrong value, then frozen and passed down. Nothing else in darkroom reads its settings from
 * `process.env` (the AWS SDK's own variables such as AWS_REGION aside).
 */
import { z } from 'zod';
import { parseRedisAddresses, type RedisConnection } from './redis-connection.js';

const portSchema = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a port number' })
    .int('must be a whole number')
    .min(0, 'must be from 0 to 65535')
    .max(65535, 'must be from 0 to 65535')
    .default(fallback);

const wholeNumber = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be from ${min} to ${max}`)
    .max(max, `must be from ${min} to ${max}`)
    .default(fallback);

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

/** An optional setting that, when set, must pass `check`. */
const optionalChecked = (check: (value: string) => boolean, message: string) =>
  optionalText.pipe(z.string().refine(check, message).optional());

const isHttpUrl = (value: string): boolean => /^https?:\/\/[^/]+/.test(value);

function isRedisUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** Settings whose value may hold a secret: a problem with one never echoes the value. */
const secretSettings = new Set(['REDIS_URL', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD']);

const redisAddressList = (example: string) =>
  optionalChecked((value) => parseRedisAddresses(value) !== undefined, `must be comma-separated host:port pairs such as ${example}`);

const settingsSchema = z
  .object({
    /** Port of the public API (uploads, reads, /healthz, /readyz). Default 8080; 0 picks a free port. */
    PORT: portSchema(8080),
    /** Port of the admin server (/metrics), never exposed by the public ingress. Default 9090. */
    ADMIN_PORT: portSchema(9090),
    /** Interface both servers bind to. Default all interfaces. */
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    /** A YAML file of DarkroomApp documents: configuration without a cluster. */
    DARKROOM_APPS_FILE: optionalText,
    /**
     * A YAML file mapping each namespace to the `bucket` or `bucket/prefix` entries its apps may use
     * with darkroom's own identity; read and validated at start. Unset: any app may name any bucket.
     */
    DARKROOM_STORAGE_POLICY_FILE: optionalText,
    /** Default endpoint for S3 apps that name none (MinIO, the embedded dev storage). */
    DARKROOM_S3_ENDPOINT: optionalChecked(isHttpUrl, 'must be an http(s) URL'),
    /** Base URL for public image URLs of apps whose spec names no `publicBaseURL`. */
    DARKROOM_PUBLIC_BASE_URL: optionalChecked(isHttpUrl, 'must be an http(s) URL').transform((value) => value?.replace(/\/+$/, '')),
    /**
     * The try-it page at `/` (upload an image from a browser through a presigned URL): `on` or
     * `off`. Default off; `npm run dev` turns it on. Meant for development, not production.
     */
    DARKROOM_DEMO_PAGE: z.enum(['on', 'off'], { error: 'must be "on" or "off"' }).default('off'),
    /** Redis for rate limits shared by all replicas (`redis://` or `rediss://` for TLS, auth in the URL). Unset: in-memory, per replica. */
    REDIS_URL: optionalChecked(isRedisUrl, 'must be a redis:// or rediss:// URL such as redis://:password@redis:6379/0'),
    /** Seed nodes of a Redis Cluster for shared rate limits, `host:port,host:port`; instead of REDIS_URL. */
    REDIS_CLUSTER_NODES: redisAddressList('redis-0.redis:6379,redis-1.redis:6379'),
    /** Sentinels that watch the rate-limit primary, `host:port,host:port`; with REDIS_SENTINEL_NAME, instead of REDIS_URL. */
    REDIS_SENTINELS: redisAddressList('sentinel-0:26379,sentinel-1:26379,sentinel-2:26379'),
    /** The primary's name in the sentinels' configuration (`sentinel monitor <name> …`). */
    REDIS_SENTINEL_NAME: optionalChecked((value) => /^[A-Za-z0-9._-]{1,128}$/.test(value), 'must be a Sentinel primary name: letters, digits, ".", "_" or "-"'),
    /** ACL user for Cluster or Sentinel data nodes (with REDIS_URL the user is in the URL). Default: the `default` user. */
    REDIS_USERNAME: optionalText,
    /** Password for Cluster or Sentinel data nodes (with REDIS_URL the password is in the URL). */
    REDIS_PASSWORD: optionalText,
    /** Password of the sentinels themselves, when they require one. */
    REDIS_SENTINEL_PASSWORD: optionalText,
    /** TLS to Cluster or Sentinel nodes (and to the sentinels): `on` or `off`. Default off; with REDIS_URL use `rediss://`. */
    REDIS_TLS: z.enum(['on', 'off'], { error: 'must be "on" or "off"' }).default('off'),
    /** What uploads get while Redis is unreachable: `memory` (limit per replica, default) or `closed` (refuse with 503). */
    DARKROOM_RATELIMIT_REDIS_FAILURE_MODE: z.enum(['memory', 'closed'], { error: 'must be "memory" or "closed"' }).default('memory'),
    /** Longest wait for one rate-limit decision from Redis, in ms, before the failure mode applies. Default 30. */
    DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS: z.coerce
      .number({ error: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(1, 'must be from 1 to 5000')
      .max(5000, 'must be from 1 to 5000')
      .default(30),
    /** Longest wait for in-flight requests after SIGTERM, in seconds; the rest are then cut. Default 20. */
    DARKROOM_DRAIN_TIMEOUT_SECONDS: z.coerce
      .number({ error: 'must be a number of seconds' })
      .positive('must be above 0')
      .max(600, 'must be at most 600')
      .default(20),
    /**
     * Seconds between failing readiness and closing the listener on SIGTERM, so that endpoints and
     * load balancers stop sending new requests first. Default 0: the Helm chart's preStop sleep waits.
     */
    DARKROOM_SHUTDOWN_DELAY_SECONDS: z.coerce
      .number({ error: 'must be a number of seconds' })
      .min(0, 'must be from 0 to 120')
      .max(120, 'must be from 0 to 120')
      .default(0),
    /**
     * Where to watch DarkroomApps when DARKROOM_APPS_FILE is unset: a namespace, or `*` for all.
     * Default: the pod's own namespace (POD_NAMESPACE, else the service-account namespace file).
     */
    DARKROOM_NAMESPACE: optionalText.pipe(
      z
        .string()
        .regex(/^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/, 'must be a namespace name or "*" for all namespaces')
        .max(63, 'must be at most 63 characters')
        .optional(),
    ),
    /** The pod's namespace (downward API); where the status-writer Lease lives. */
    POD_NAMESPACE: optionalText,
    /** The pod's name (downward API): this replica's identity in the Lease. Default: the host name. */
    POD_NAME: optionalText,
    /**
     * Variants made at once in this replica (the rest wait in the queue). Default 2. Must leave at
     * least two libuv pool threads (UV_THREADPOOL_SIZE, default 4) for DNS, fs and zlib, so that
     * transforms never starve the proxying of originals (see src/variants/sharp-runtime.ts).
     */
    DARKROOM_TRANSFORM_CONCURRENCY: wholeNumber(1, 64, 2),
    /** Variants that may wait for a transform slot; one more is refused with 503 TRANSFORM_BUSY. Default 64. */
    DARKROOM_TRANSFORM_QUEUE: wholeNumber(0, 10_000, 64),
    /** Deadline of one transform's pixel work in seconds; over it the variant is IMAGE_NOT_TRANSFORMABLE. Default 10. */
    DARKROOM_TRANSFORM_TIMEOUT_SECONDS: wholeNumber(1, 300, 10),
    /** libvips threads per transform (`sharp.concurrency`). Default 1: one core per transform. */
    DARKROOM_TRANSFORM_THREADS: wholeNumber(1, 64, 1),
    /** libuv's thread-pool size (read by Node itself at start); checked against DARKROOM_TRANSFORM_CONCURRENCY. Default 4. */
    UV_THREADPOOL_SIZE: wholeNumber(1, 1024, 4),
    /** pino log level. Default info. */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((value, context) => {
    if (value.PORT !== 0 && value.PORT === value.ADMIN_PORT) {
      context.addIssue({ code: 'custom', path: ['ADMIN_PORT'], message: 'must differ from PORT' });
    }
    for (const [path, message] of redisTopologyProblems(value)) context.addIssue({ code: 'custom', path: [path], message });
    if (value.DARKROOM_TRANSFORM_CONCURRENCY > value.UV_THREADPOOL_SIZE - 2) {
      context.addIssue({
        code: 'custom',
        path: ['DARKROOM_TRANSFORM_CONCURRENCY'],
        message: `must leave two libuv threads free: at most UV_THREADPOOL_SIZE - 2 (${value.UV_THREADPOOL_SIZE - 2}); raise UV_THREADPOOL_SIZE to allow more`,
      });
    }
  });

type RawRedisSettings = {
  REDIS_URL?: string | undefined;
  REDIS_CLUSTER_NODES?: string | undefined;
  REDIS_SENTINELS?: string | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_USERNAME?: string | undefined;
  REDIS_PASSWORD?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_TLS: 'on' | 'off';
};

/** The settings that only make sense together (or never together), as [setting, problem] pairs. */
function redisTopologyProblems(value: RawRedisSettings): [string, string][] {
  const problems: [string, string][] = [];
  const chosen = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((name) => value[name] !== undefined);
  if (chosen.length > 1) {
    for (const name of chosen.slice(1)) {
      problems.push([name, `set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS (${chosen[0]} is set too)`]);
    }
  }
  if (value.REDIS_SENTINELS !== undefined && value.REDIS_SENTINEL_NAME === undefined) {
    problems.push(['REDIS_SENTINEL_NAME', "is required with REDIS_SENTINELS: the primary's name in the sentinels' configuration"]);
  }
  if (value.REDIS_SENTINEL_NAME !== undefined && value.REDIS_SENTINELS === undefined) {
    problems.push(['REDIS_SENTINEL_NAME', 'is only used with REDIS_SENTINELS']);
  }
  if (value.REDIS_SENTINEL_PASSWORD !== undefined && value.REDIS_SENTINELS === undefined) {
    problems.push(['REDIS_SENTINEL_PASSWORD', 'is only used with REDIS_SENTINELS']);
  }
  const topology = value.REDIS_CLUSTER_NODES !== undefined || value.REDIS_SENTINELS !== undefined;
  const inUrl = value.REDIS_URL !== undefined;
  if (value.REDIS_USERNAME !== undefined && !topology) {
    problems.push(['REDIS_USERNAME', `is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS${inUrl ? ': with REDIS_URL put the user in the URL' : ''}`]);
  }
  if (value.REDIS_PASSWORD !== undefined && !topology) {
    problems.push(['REDIS_PASSWORD', `is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS${inUrl ? ': with REDIS_URL put the password in the URL' : ''}`]);
  }
  if (value.REDIS_TLS === 'on' && !topology) {
    problems.push(['REDIS_TLS', `is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS${inUrl ? ': with REDIS_URL use rediss://' : ''}`]);
  }
  return problems;
}

function redisConnectionOf(value: RawRedisSettings): RedisConnection | undefined {
  const auth = { username: value.REDIS_USERNAME, password: value.REDIS_PASSWORD };
  const tls = value.REDIS_TLS === 'on';
  if (value.REDIS_URL !== undefined) return { kind: 'standalone', url: value.REDIS_URL };
  if (value.REDIS_CLUSTER_NODES !== undefined) {
    return { kind: 'cluster', nodes: Object.freeze(parseRedisAddresses(value.REDIS_CLUSTER_NODES)!), auth, tls };
  }
  if (value.REDIS_SENTINELS !== undefined) {
    return {
      kind: 'sentinel',
      sentinels: Object.freeze(parseRedisAddresses(value.REDIS_SENTINELS)!),
      name: value.REDIS_SENTINEL_NAME!,
      auth,
      sentinelPassword: value.REDIS_SENTINEL_PASSWORD,
      tls,
    };
  }
  return undefined;
}

/** Every environment variable darkroom reads as a setting (the README's settings table lists them). */
export const settingNames: readonly string[] = Object.freeze(Object.keys(settingsSchema.shape));

/** The validated, frozen process settings. */
export interface Settings {
  readonly port: number;
  readonly adminPort: number;
  readonly host: string;
  readonly appsFile: string | undefined;
  /** `DARKROOM_STORAGE_POLICY_FILE`: the per-namespace storage policy to load at start. */
  readonly storagePolicyFile: string | undefined;
  readonly s3DefaultEndpoint: string | undefined;
  readonly defaultPublicBaseURL: string | undefined;
  readonly logLevel: string;
  /** Longest wait for in-flight requests on shutdown, in ms (`DARKROOM_DRAIN_TIMEOUT_SECONDS`). */
  readonly drainTimeoutMs: number;
  /** Pause between failing readiness and closing the listener on shutdown, in ms (`DARKROOM_SHUTDOWN_DELAY_SECONDS`). */
  readonly shutdownDelayMs: number;
  /**
   * Where shared rate limits live: one Redis, a Cluster or a Sentinel-managed primary (may hold a
   * password: never log it); undefined means in-memory, per replica.
   */
  readonly redis: RedisConnection | undefined;
  /** `memory`: per-replica limits while Redis is unreachable; `closed`: uploads refused with 503. */
  readonly rateLimitRedisFailureMode: 'memory' | 'closed';
  /** Rate-limit command timeout in ms. */
  readonly rateLimitRedisTimeoutMs: number;
  /** Whether the try-it page is served at `/` (`DARKROOM_DEMO_PAGE=on`). Default false. */
  readonly demoPage: boolean;
  /** `DARKROOM_NAMESPACE`: a namespace, `*` for all, undefined for the pod's own. */
  readonly watchNamespace: string | undefined;
  /** `POD_NAMESPACE`, when set. */
  readonly podNamespace: string | undefined;
  /** `POD_NAME`, when set. */
  readonly podName: string | undefined;
  /** Bounds on variant transforms in this replica. */
  readonly transforms: TransformSettings;
}

/** How much transform work one replica takes on (`DARKROOM_TRANSFORM_*`). */
export interface TransformSettings {
  /** Transforms running at once. Default 2. */
  readonly concurrency: number;
  /** Transforms waiting for a slot before TRANSFORM_BUSY. Default 64. */
  readonly maxQueued: number;
  /** Deadline of one transform, in whole seconds. Default 10. */
  readonly timeoutSeconds: number;
  /** libvips threads per transform. Default 1. */
  readonly threadsPerTransform: number;
}

/** Thrown with every problem at once, so an operator fixes them all in one go. */
export class SettingsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid settings:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

/** Reads and validates the settings from an environment (pure: pass `process.env` in). */
export function loadSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const result = settingsSchema.safeParse(env);
  if (!result.success) {
    throw new SettingsError(
      result.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment');
        const raw = secretSettings.has(name) ? undefined : env[name];
        return `${name}: ${issue.message}${raw === undefined ? '' : ` (got ${JSON.stringify(raw)})`}`;
      }),
    );
  }
  const value = result.data;
  return Object.freeze({
    port: value.PORT,
    adminPort: value.ADMIN_PORT,
    host: value.HOST,
    appsFile: value.DARKROOM_APPS_FILE,
    storagePolicyFile: value.DARKROOM_STORAGE_POLICY_FILE,
    s3DefaultEndpoint: value.DARKROOM_S3_ENDPOINT,
    defaultPublicBaseURL: value.DARKROOM_PUBLIC_BASE_URL,
    logLevel: value.LOG_LEVEL,
    drainTimeoutMs: Math.round(value.DARKROOM_DRAIN_TIMEOUT_SECONDS * 1000),
    shutdownDelayMs: Math.round(value.DARKROOM_SHUTDOWN_DELAY_SECONDS * 1000),
    redis: redisConnectionOf(value),
    rateLimitRedisFailureMode: value.DARKROOM_RATELIMIT_REDIS_FAILURE_MODE,
    rateLimitRedisTimeoutMs: value.DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS,
    demoPage: value.DARKROOM_DEMO_PAGE === 'on',
    watchNamespace: value.DARKROOM_NAMESPACE,
    podNamespace: value.POD_NAMESPACE,
    podName: value.POD_NAME,
    transforms: Object.freeze({
      concurrency: value.DARKROOM_TRANSFORM_CONCURRENCY,
      maxQueued: value.DARKROOM_TRANSFORM_QUEUE,
      timeoutSeconds: value.DARKROOM_TRANSFORM_TIMEOUT_SECONDS,
      threadsPerTransform: value.DARKROOM_TRANSFORM_THREADS,
    }),
  });
}

/** The transform bounds with nothing set: what darkroom runs with by default. */
export const defaultTransformSettings: TransformSettings = loadSettings({}).transforms;
