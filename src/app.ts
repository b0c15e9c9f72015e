/**
 * Builds darkroom's Express apps without listening, so tests drive them in-process and `main` is
 * the only place that reads the environment and opens ports.
 */
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { OwnerAuthenticators } from './auth/owner-authenticators.js';
import type { TransformSettings } from './config/settings.js';
import type { AppRegistry } from './config/app-registry.js';
import { presignPreflight, readPreflight } from './http/cors.js';
import { errorHandler, methodNotAllowed, notFoundHandler } from './http/error-handler.js';
import { requestEnvelope } from './http/request-envelope.js';
import { demoPageRoutes, type DemoPageOptions } from './http/routes/demo-page.js';
import { healthRoutes } from './http/routes/health.js';
import { openApiRoutes } from './http/routes/openapi.js';
import { presignUploadRoutes } from './http/routes/presign-upload.js';
import { readImageRoutes } from './http/routes/read-image.js';
import type { DarkroomMetrics } from './metrics/metrics.js';
import type { RateLimiter } from './ratelimit/rate-limiter.js';
import type { StorageProviders } from './storage/storage-providers.js';
import type { ImageReader } from './delivery/image-reader.js';
import { darkroomVersion } from './version.js';

/** Everything the public app needs, ready-made. */
export interface AppDeps {
  readonly registry: AppRegistry;
  readonly storage: StorageProviders;
  readonly rateLimiter: RateLimiter;
  readonly metrics: DarkroomMetrics;
  readonly logger: Logger;
  /** Public base URL for apps whose spec names none (`DARKROOM_PUBLIC_BASE_URL`). */
  readonly defaultPublicBaseURL: string | undefined;
  /** Reasons not to take traffic (draining, config not synced); empty when ready. */
  readonly notReadyReasons: () => string[];
  /** The try-it page at `/` (`DARKROOM_DEMO_PAGE=on`); absent (the default) means not served. */
  readonly demoPage?: DemoPageOptions | undefined;
  /** The read path (CDN first, storage fallback); absent means storage only. */
  readonly imageReader?: ImageReader | undefined;
  /** Who the owner of an upload is, per app; absent builds one without Secrets, on the real clock. */
  readonly authenticators?: OwnerAuthenticators | undefined;
  /** Bounds on variant transforms (`DARKROOM_TRANSFORM_*`); absent means the defaults. */
  readonly transforms?: TransformSettings | undefined;
}

/** The public API: uploads, reads, health. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestEnvelope(deps.logger, deps.metrics));

  const router = express.Router({ caseSensitive: true, strict: true });
  healthRoutes(router, deps);
  presignUploadRoutes(router, { ...deps, authenticators: deps.authenticators ?? new OwnerAuthenticators({ logger: deps.logger }) });
  readImageRoutes(router, deps);
  openApiRoutes(router, darkroomVersion);
  // Mounted only when asked for: by default `/` is a 404 like any other unknown path.
  if (deps.demoPage) demoPageRoutes(router, { ...deps, ...deps.demoPage });
  // CORS preflights (and plain OPTIONS): answered, never a 405.
  router.options('/darkroom/:appName/v1/images/presigned-urls', presignPreflight(deps.registry));
  router.options('/darkroom/:appName/v2/images/:key', readPreflight);
  router.all('/darkroom/:appName/v1/images/presigned-urls', methodNotAllowed(['POST', 'OPTIONS']));
  router.all('/darkroom/:appName/v2/images/:key', methodNotAllowed(['GET', 'HEAD', 'OPTIONS']));
  app.use(router);

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

/** The admin API (`ADMIN_PORT`): Prometheus metrics, never exposed by the public ingress. */
export function createAdminApp(metrics: DarkroomMetrics): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  return app;
}
