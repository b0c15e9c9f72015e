/**
 * The composition root: frozen settings in, a running darkroom out. Builds the config source,
 * registry, storage providers, limiter and metrics, wires them into the HTTP apps, and opens the
 * two ports. `main.ts` (production) and `dev.ts` (the embedded default) both come through here,
 * so development takes the production code path.
 */
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { createAdminApp, createApp } from './app.js';
import { OwnerAuthenticators, type OwnerAuthenticatorsOptions } from './auth/owner-authenticators.js';
import { AppRegistry, type AppSnapshot } from './config/app-registry.js';
import type { ConfigSource } from './config/config-source.js';
import type { Settings } from './config/settings.js';
import { FileConfigSource } from './config/sources/file-source.js';
import { loadStoragePolicyFile, type StoragePolicy } from './config/storage-policy.js';
import type { KubernetesSourceTiming } from './config/sources/kubernetes/darkroom-app-source.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from './logging/logger.js';
import { DarkroomMetrics } from './metrics/metrics.js';
import { MemoryRateLimiter } from './ratelimit/memory-rate-limiter.js';
import type { RateLimiter } from './ratelimit/rate-limiter.js';
import { startRedisRateLimiter } from './ratelimit/redis-start.js';
import { buildGcsStorageProvider } from './storage/gcs-builder.js';
import { buildS3StorageProvider } from './storage/s3-builder.js';
import { CachedStorageProviders } from './storage/storage-providers.js';
import { BucketCorsMonitor } from './storage/bucket-cors-monitor.js';
import { corsReadyConditionType } from './core/bucket-cors.js';
import { CdnBreakers } from './delivery/cdn-breakers.js';
import { CdnClient } from './delivery/cdn-client.js';
import { ImageReader } from './delivery/image-reader.js';

/** A started darkroom. */
export interface RunningDarkroom {
  /** Base URL of the public API, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Base URL of the admin API (`/metrics`). */
  readonly adminUrl: string;
  readonly registry: AppRegistry;
  readonly metrics: DarkroomMetrics;
  readonly logger: Logger;
  /** Bucket CORS verdicts of the apps that list `allowedOrigins`. */
  readonly corsMonitor: BucketCorsMonitor;
  /** Fails readiness, drains in-flight requests (bounded), then releases everything. */
  close(): Promise<void>;
}

/** Optional replacements, for embedding and tests. */
export interface StartOptions {
  readonly logger?: Logger;
  readonly configSource?: ConfigSource;
  /** For the DarkroomApp watch (no apps file): a kubeconfig instead of `loadFromDefault`, and timings. */
  readonly kubernetes?: { readonly kubeConfig?: KubeConfig; readonly timing?: KubernetesSourceTiming };
  readonly rateLimiter?: RateLimiter;
  /** The clock tokens are checked against and remote JWKS timings (tests). */
  readonly auth?: Pick<OwnerAuthenticatorsOptions, 'now' | 'jwksPolicy'>;
  /** Longest wait for in-flight requests on close, in ms. Default `settings.drainTimeoutMs` (20 000). */
  readonly drainTimeoutMs?: number;
  /** How often bucket CORS rules are re-checked (`CORSReady`), in ms. Default 600 000. */
  readonly corsCheckIntervalMs?: number;
}

/** Idle keep-alive sockets live longer than common load balancers' idle timeouts (ALB: 60 s). */
const keepAliveTimeoutMs = 65_000;

export async function startDarkroom(settings: Settings, options: StartOptions = {}): Promise<RunningDarkroom> {
  const logger = options.logger ?? createLogger(settings.logLevel);
  const metrics = new DarkroomMetrics();
  const registry = new AppRegistry();
  // Read and checked before anything starts: a broken policy file fails the start, never half-applies.
  const storagePolicy = settings.storagePolicyFile ? await loadStoragePolicyFile(settings.storagePolicyFile) : undefined;
  const configSource = options.configSource ?? (await defaultConfigSource(settings, logger, metrics, options.kubernetes, storagePolicy));
  // Apps that name a credentials Secret get it through the source that read it (Kubernetes only).
  const storage = new CachedStorageProviders(
    { s3: buildS3StorageProvider, gcs: buildGcsStorageProvider },
    {
      s3Endpoint: settings.s3DefaultEndpoint,
      secrets: configSource.secrets,
      onPresignFallback: (app, reason, error) => {
        metrics.presignFallbacks.inc({ app, reason });
        logger.warn({ app, reason, err: error }, `S3 upload URLs for app "${app}" are signed through getSignedUrl (slower): ${reason}`);
      },
    },
  );
  // Redis (REDIS_URL, a Cluster or Sentinel) shares limits across replicas; without it each replica limits in memory.
  const rateLimiter =
    options.rateLimiter ??
    (settings.redis
      ? await startRedisRateLimiter(
          { connection: settings.redis, failureMode: settings.rateLimitRedisFailureMode, commandTimeoutMs: settings.rateLimitRedisTimeoutMs },
          metrics,
          logger,
        )
      : new MemoryRateLimiter());
  let draining = false;

  // One keep-alive pool for every CDN; one breaker per app and CDN, rebuilt when its spec changes.
  const cdnClient = new CdnClient();
  const cdns = new CdnBreakers(cdnClient, metrics, logger);
  const imageReader = new ImageReader({ storage, metrics, cdns });
  /** Everything that holds connections, released once: on close, or when the start fails. */
  const releaseDependencies = async (): Promise<void> => {
    await rateLimiter.close().catch((error: unknown) => logger.warn({ err: error }, 'closing the rate limiter failed'));
    cdns.close();
    await cdnClient.close().catch(() => undefined);
    storage.close();
  };

  // Keys of jwt-mode apps: fetched JWKS kept across reloads, JWKS Secrets through the source.
  const authenticators = new OwnerAuthenticators({ logger, secrets: configSource.secrets, ...options.auth });
  // Apps with allowedOrigins: is their bucket's CORS ready for browser uploads? (CORSReady)
  const corsMonitor = new BucketCorsMonitor({
    storage,
    logger,
    intervalMs: options.corsCheckIntervalMs,
    onVerdict: (app, verdict) => configSource.reportCondition?.(app, corsReadyConditionType, verdict && { type: corsReadyConditionType, ...verdict }),
  });

  registry.onChange((snapshot, previous) => {
    reportSnapshot(logger, metrics, snapshot, previous);
    storage.retain(snapshot.apps);
    authenticators.retain(snapshot.apps);
    cdns.retain(snapshot.apps);
    corsMonitor.update(snapshot.apps);
  });

  const app = createApp({
    registry,
    storage,
    imageReader,
    authenticators,
    transforms: settings.transforms,
    rateLimiter,
    metrics,
    logger,
    defaultPublicBaseURL: settings.defaultPublicBaseURL,
    demoPage: settings.demoPage ? { s3DefaultEndpoint: settings.s3DefaultEndpoint } : undefined,
    notReadyReasons: () => [
      ...(registry.synced ? [] : ['config not synced']),
      ...(draining ? ['shutting down'] : []),
    ],
  });

  // The source starts before the listeners open, so that while a cluster source waits for its
  // first list /healthz answers and /readyz says "config not synced"; a source that cannot produce
  // a first snapshot (a broken apps file) still fails the start.
  const configStarted = configSource.start((snapshot) => registry.replace(snapshot));
  configStarted.catch(() => undefined); // awaited below, once the listeners are open
  const server = app.listen(settings.port, settings.host);
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.headersTimeout = keepAliveTimeoutMs + 1_000;
  const adminServer = createAdminApp(metrics).listen(settings.adminPort, settings.host);
  try {
    await Promise.all([once(server, 'listening'), once(adminServer, 'listening')]);
    await configStarted;
  } catch (error) {
    // A start that fails must not leave the Redis connection, the CDN pool or storage sockets open.
    await Promise.all([drain(server, 0), drain(adminServer, 0), configSource.stop()]);
    await releaseDependencies();
    throw error;
  }

  const url = baseUrl(server, settings.host);
  const adminUrl = baseUrl(adminServer, settings.host);
  logger.info({ url, adminUrl, config: configSource.description }, 'darkroom listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    adminUrl,
    registry,
    metrics,
    logger,
    corsMonitor,
    close() {
      closing ??= (async () => {
        draining = true;
        // Readiness fails from here on; let endpoints and load balancers stop sending before the listener closes.
        if (settings.shutdownDelayMs > 0) await delay(settings.shutdownDelayMs);
        const drainTimeoutMs = options.drainTimeoutMs ?? settings.drainTimeoutMs;
        logger.info({ drainTimeoutMs }, 'draining in-flight requests');
        await Promise.all([drain(server, drainTimeoutMs), drain(adminServer, 1_000)]);
        corsMonitor.stop();
        await configSource.stop();
        await releaseDependencies();
        logger.info('darkroom stopped');
      })();
      return closing;
    },
  };
}

/**
 * The apps file when `DARKROOM_APPS_FILE` is set; else the DarkroomApp watch (in-cluster or
 * `KUBECONFIG`). The Kubernetes source is imported only then: its client (about 2,000 modules)
 * cost a process started from a file about 50 MB of RSS and 0.35 s of start-up (measured).
 */
async function defaultConfigSource(
  settings: Settings,
  logger: Logger,
  metrics: DarkroomMetrics,
  kubernetes: StartOptions['kubernetes'],
  storagePolicy: StoragePolicy | undefined,
): Promise<ConfigSource> {
  if (settings.appsFile) return new FileConfigSource({ path: settings.appsFile, logger, storagePolicy });
  const { createKubernetesConfigSource } = await import('./config/sources/kubernetes/create-source.js');
  return createKubernetesConfigSource(settings, metrics, logger, { ...kubernetes, storagePolicy });
}

/**
 * Logs each invalid app by name and field path once per change of its state (not on every rebuild
 * of the table: a watch event or a Secret refresh rebuilds it), and updates the config gauges.
 */
function reportSnapshot(logger: Logger, metrics: DarkroomMetrics, snapshot: AppSnapshot, previous: AppSnapshot): void {
  for (const report of snapshot.invalid.values()) {
    if (isDeepStrictEqual(previous.invalid.get(report.name), report)) continue;
    logger.warn({ app: report.name, problems: report.problems }, `DarkroomApp "${report.name}" is invalid and not served`);
  }
  for (const report of previous.invalid.values()) {
    if (snapshot.apps.has(report.name)) logger.info({ app: report.name }, `DarkroomApp "${report.name}" is valid again and served`);
  }
  for (const [key, report] of snapshot.refused) {
    if (report.reason !== 'NameConflict') continue; // the owner of the name is reported above
    if (isDeepStrictEqual(previous.refused.get(key), report)) continue;
    logger.warn({ app: report.name, namespace: report.namespace, problems: report.problems }, `DarkroomApp ${report.namespace ?? ''}/${report.name} is not served: its name is taken`);
  }
  const reportedBefore = new Set(previous.unnamedInvalid.map((document) => JSON.stringify(document)));
  for (const document of snapshot.unnamedInvalid) {
    if (reportedBefore.has(JSON.stringify(document))) continue;
    logger.warn({ where: document.where, problems: document.problems }, `${document.where} is not a valid DarkroomApp`);
  }
  const invalid = snapshot.invalid.size + snapshot.unnamedInvalid.length;
  logger.info({ served: [...snapshot.apps.keys()], invalid }, 'apps loaded');
  metrics.configAppsLoaded.set(snapshot.apps.size);
  metrics.configAppsInvalid.set(invalid);
  metrics.configAppValid.reset();
  for (const name of snapshot.apps.keys()) metrics.configAppValid.set({ app: name }, 1);
  for (const name of snapshot.invalid.keys()) metrics.configAppValid.set({ app: name }, 0);
  metrics.configLastReloadTimestamp.set(Date.now() / 1000);
}

/** Stops accepting, lets in-flight requests finish, closes idle keep-alive sockets; cuts the rest at the deadline. */
async function drain(server: Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // A request still arriving on an open keep-alive socket is answered, and that socket then closes.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  });
  // close() reaps idle keep-alive sockets only once; a socket whose in-flight response finishes later
  // would otherwise linger until keepAliveTimeout (65 s) and hold the drain open.
  const reaper = setInterval(() => server.closeIdleConnections(), 100);
  const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
  await closed;
  clearInterval(reaper);
  clearTimeout(deadline);
}

function baseUrl(server: Server, host: string): string {
  const { port } = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
}
