/**
 * The composition root: frozen settings in, a running darkroom out. Builds the config source,
 * registry, storage providers, limiter and metrics, wires them into the HTTP apps, and opens the
 * two ports. `main.ts` (production) and `dev.ts` (the embedded default) both come through here,
 * so development takes the production code path.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createAdminApp, createApp } from './app.js';
import { AppRegistry, type AppSnapshot } from './config/app-registry.js';
import type { ConfigSource } from './config/config-source.js';
import type { Settings } from './config/settings.js';
import { FileConfigSource } from './config/sources/file-source.js';
import { createLogger } from './logging/logger.js';
import { DarkroomMetrics } from './metrics/metrics.js';
import { MemoryRateLimiter } from './ratelimit/memory-rate-limiter.js';
import type { RateLimiter } from './ratelimit/rate-limiter.js';
import { buildS3StorageProvider } from './storage/s3-builder.js';
import { CachedStorageProviders } from './storage/storage-providers.js';

/** A started darkroom. */
export interface RunningDarkroom {
  /** Base URL of the public API, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Base URL of the admin API (`/metrics`). */
  readonly adminUrl: string;
  readonly registry: AppRegistry;
  readonly metrics: DarkroomMetrics;
  readonly logger: Logger;
  /** Fails readiness, drains in-flight requests (bounded), then releases everything. */
  close(): Promise<void>;
}

/** Optional replacements, for embedding and tests. */
export interface StartOptions {
  readonly logger?: Logger;
  readonly configSource?: ConfigSource;
  readonly rateLimiter?: RateLimiter;
  /** Longest wait for in-flight requests on close, in ms. Default 20 000. */
  readonly drainTimeoutMs?: number;
}

/** Idle keep-alive sockets live longer than common load balancers' idle timeouts (ALB: 60 s). */
const keepAliveTimeoutMs = 65_000;

export async function startDarkroom(settings: Settings, options: StartOptions = {}): Promise<RunningDarkroom> {
  const logger = options.logger ?? createLogger(settings.logLevel);
  const metrics = new DarkroomMetrics();
  const registry = new AppRegistry();
  const storage = new CachedStorageProviders({ s3: buildS3StorageProvider }, { s3Endpoint: settings.s3DefaultEndpoint });
  const rateLimiter = options.rateLimiter ?? new MemoryRateLimiter();
  const configSource = options.configSource ?? defaultConfigSource(settings, logger);
  let draining = false;

  registry.onChange((snapshot) => {
    reportSnapshot(logger, metrics, snapshot);
    storage.retain(snapshot.apps);
  });

  const app = createApp({
    registry,
    storage,
    rateLimiter,
    metrics,
    logger,
    defaultPublicBaseURL: settings.defaultPublicBaseURL,
    notReadyReasons: () => [
      ...(registry.synced ? [] : ['config not synced']),
      ...(draining ? ['shutting down'] : []),
    ],
  });

  await configSource.start((snapshot) => registry.replace(snapshot));
  const server = app.listen(settings.port, settings.host);
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.headersTimeout = keepAliveTimeoutMs + 1_000;
  const adminServer = createAdminApp(metrics).listen(settings.adminPort, settings.host);
  await Promise.all([once(server, 'listening'), once(adminServer, 'listening')]);

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
    close() {
      closing ??= (async () => {
        draining = true;
        await Promise.all([
          drain(server, options.drainTimeoutMs ?? 20_000),
          drain(adminServer, 1_000),
        ]);
        await configSource.stop();
        await rateLimiter.close();
        logger.info('darkroom stopped');
      })();
      return closing;
    },
  };
}

function defaultConfigSource(settings: Settings, logger: Logger): ConfigSource {
  if (settings.appsFile) return new FileConfigSource({ path: settings.appsFile, logger });
  throw new Error(
    'DARKROOM_APPS_FILE is not set: point it at a YAML file of DarkroomApp documents (see examples/apps.yaml).',
  );
}

/** Logs every invalid app by name and field path, and updates the config gauges. */
function reportSnapshot(logger: Logger, metrics: DarkroomMetrics, snapshot: AppSnapshot): void {
  for (const report of snapshot.invalid.values()) {
    logger.warn({ app: report.name, problems: report.problems }, `DarkroomApp "${report.name}" is invalid and not served`);
  }
  for (const document of snapshot.unnamedInvalid) {
    logger.warn({ where: document.where, problems: document.problems }, `${document.where} is not a valid DarkroomApp`);
  }
  logger.info(
    { served: [...snapshot.apps.keys()], invalid: snapshot.invalid.size + snapshot.unnamedInvalid.length },
    'apps loaded',
  );
  metrics.configAppsLoaded.set(snapshot.apps.size);
  metrics.configAppsInvalid.set(snapshot.invalid.size + snapshot.unnamedInvalid.length);
  metrics.configAppValid.reset();
  for (const name of snapshot.apps.keys()) metrics.configAppValid.set({ app: name }, 1);
  for (const name of snapshot.invalid.keys()) metrics.configAppValid.set({ app: name }, 0);
  metrics.configLastReloadTimestamp.set(Date.now() / 1000);
}

/** Stops accepting, lets in-flight requests finish, closes idle keep-alive sockets; cuts the rest at the deadline. */
async function drain(server: Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
  await closed;
  clearTimeout(deadline);
}

function baseUrl(server: Server, host: string): string {
  const { port } = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
}
