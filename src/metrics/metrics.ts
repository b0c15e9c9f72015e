/**
 * Every Prometheus instrument darkroom exports, on a private registry (never prom-client's global
 * one, so tests and embedded uses do not collide). Names are a user contract: `darkroom_<area>_…`,
 * `_total` counters, `_seconds` durations, bounded labels only (app, route, reason, source) —
 * never keys or owners.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The label used for an app name that is not configured, so random names cannot blow up cardinality. */
export const unknownAppLabel = '_unknown';

export class DarkroomMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'darkroom_http_requests_total',
    help: 'HTTP requests answered, by route, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'darkroom_http_request_duration_seconds',
    help: 'Time from request to the end of the response, by route, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly uploadUrlsIssued = new Counter({
    name: 'darkroom_upload_urls_issued_total',
    help: 'Presigned upload URLs issued, by app.',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });

  readonly uploadUrlsRefused = new Counter({
    name: 'darkroom_upload_urls_refused_total',
    help: 'Presigned upload URL requests refused, by app and reason (the error code).',
    labelNames: ['app', 'reason'] as const,
    registers: [this.registry],
  });

  readonly rateLimitRejections = new Counter({
    name: 'darkroom_ratelimit_rejections_total',
    help: 'Upload requests refused by the per-owner rate limit, by app.',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });

  readonly imageReads = new Counter({
    name: 'darkroom_image_reads_total',
    help: 'Image reads answered, by app, source (cdn, storage) and outcome.',
    labelNames: ['app', 'source', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly configAppsLoaded = new Gauge({
    name: 'darkroom_config_apps_loaded',
    help: 'DarkroomApps with a valid spec, being served.',
    registers: [this.registry],
  });

  readonly configAppsInvalid = new Gauge({
    name: 'darkroom_config_apps_invalid',
    help: 'DarkroomApps refused because their spec is invalid.',
    registers: [this.registry],
  });

  readonly configAppValid = new Gauge({
    name: 'darkroom_config_app_valid',
    help: '1 when the named DarkroomApp is valid and served, 0 when it is refused as invalid.',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });

  readonly configLastReloadTimestamp = new Gauge({
    name: 'darkroom_config_last_reload_timestamp_seconds',
    help: 'Unix time at which the app table was last replaced.',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
