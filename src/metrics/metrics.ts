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
    help: 'Image reads answered, by app, source (cdn, storage) and outcome (ok, not_modified, range_not_satisfiable, not_found, refused, aborted, error).',
    labelNames: ['app', 'source', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly imageReadDuration = new Histogram({
    name: 'darkroom_image_read_duration_seconds',
    help: 'Time to answer an image read, by app and source (cdn, storage).',
    labelNames: ['app', 'source'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly imageReadsRefused = new Counter({
    name: 'darkroom_image_reads_refused_total',
    help: 'Stored objects refused on read because they are not an allowed image, by app and reason.',
    labelNames: ['app', 'reason'] as const,
    registers: [this.registry],
  });

  readonly storageErrors = new Counter({
    name: 'darkroom_storage_errors_total',
    help: 'Image reads that failed in storage, by app and reason (access_denied, bucket_missing, timeout, unavailable); missing objects are not counted.',
    labelNames: ['app', 'reason'] as const,
    registers: [this.registry],
  });

  readonly presignFallbacks = new Counter({
    name: 'darkroom_presign_fallbacks_total',
    help: 'Times an S3 app\'s signer could not prepare one of its fast templates (uploads then signed through getSignedUrl, darkroom\'s own object reads and writes sent through the SDK), by app and reason (unsupported, probe_mismatch, error).',
    labelNames: ['app', 'reason'] as const,
    registers: [this.registry],
  });

  readonly cdnFallbacks = new Counter({
    name: 'darkroom_cdn_fallbacks_total',
    help: 'Reads that fell back from the CDN to storage, by app and reason (timeout, error, status_5xx, status_4xx, circuit_open, not_found).',
    labelNames: ['app', 'reason'] as const,
    registers: [this.registry],
  });

  readonly cdnBreakerState = new Gauge({
    name: 'darkroom_cdn_breaker_state',
    help: 'State of the CDN circuit breaker per app: 0 closed, 1 half-open, 2 open.',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });

  readonly rateLimitDegraded = new Gauge({
    name: 'darkroom_ratelimit_degraded',
    help: '1 while the shared rate-limit store (Redis) is unreachable and this replica limits on its own.',
    registers: [this.registry],
  });

  readonly rateLimitBackendErrors = new Counter({
    name: 'darkroom_ratelimit_backend_errors_total',
    help: 'Rate-limit decisions the shared store (Redis) failed to make, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly configWatchConnected = new Gauge({
    name: 'darkroom_config_watch_connected',
    help: '1 while the DarkroomApp watch on the Kubernetes API is connected.',
    registers: [this.registry],
  });

  readonly configWatchLastEventTimestamp = new Gauge({
    name: 'darkroom_config_watch_last_event_timestamp_seconds',
    help: 'Unix time of the last event (or successful list) received from the Kubernetes API.',
    registers: [this.registry],
  });

  readonly configWatchRestarts = new Counter({
    name: 'darkroom_config_watch_restarts_total',
    help: 'Times the DarkroomApp watch was restarted after an error or a stall.',
    registers: [this.registry],
  });

  readonly configWatchRelists = new Counter({
    name: 'darkroom_config_watch_relists_total',
    help: 'Full re-lists of DarkroomApps (first sync, 410 Gone, restarts).',
    registers: [this.registry],
  });

  readonly configStatusWrites = new Counter({
    name: 'darkroom_config_status_writes_total',
    help: 'DarkroomApp status patches written by the leader, by outcome (ok, conflict, error).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly leader = new Gauge({
    name: 'darkroom_leader',
    help: '1 while this replica holds the status-writer Lease.',
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

  readonly variantRequests = new Counter({
    name: 'darkroom_variant_requests_total',
    help: 'Variant requests answered, by app and outcome: cdn or storage (a stored variant), generated (made on this request, or joined one being made), refused (TRANSFORM_BUSY or IMAGE_NOT_TRANSFORMABLE).',
    labelNames: ['app', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly variantTransformDuration = new Histogram({
    name: 'darkroom_variant_transform_duration_seconds',
    help: 'Time one variant transform took (decode, resize, encode), by app; time waiting in the queue excluded.',
    labelNames: ['app'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly variantQueueDepth = new Gauge({
    name: 'darkroom_variant_queue_depth',
    help: 'Variant transforms waiting for a slot in this replica.',
    registers: [this.registry],
  });

  readonly variantQueueCapacity = new Gauge({
    name: 'darkroom_variant_queue_capacity',
    help: 'Transforms that may wait in this replica (DARKROOM_TRANSFORM_QUEUE); at this depth new variants are refused with TRANSFORM_BUSY.',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
