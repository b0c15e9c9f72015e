/**
 * `GET|HEAD /darkroom/{appName}/v2/images/{key}`: the public URL. Delivery reads and checks the
 * object (CDN first behind a breaker, storage fallback, images only, size rule); this route only
 * translates its checked reply to HTTP and streams the bytes with backpressure (never buffering
 * the object). Every upstream request is aborted when the client leaves.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import type { AppRegistry } from '../../config/app-registry.js';
import type { DarkroomApp } from '../../config/darkroom-app.js';
import { darkroomError } from '../../core/errors.js';
import { isWellFormedImageKey, storageKey } from '../../core/keys.js';
import { parseRange, type Preconditions } from '../../delivery/http-semantics.js';
import { ImageDelivery, originalRules, type CheckedReply, type DeliveryProgress } from '../../delivery/image-delivery.js';
import { ImageReader } from '../../delivery/image-reader.js';
import { streamBody } from '../../delivery/stream-body.js';
import type { DarkroomMetrics } from '../../metrics/metrics.js';
import { setPublicReadCorsHeaders } from '../cors.js';
import { logFor } from '../request-context.js';
import type { StorageProviders } from '../../storage/storage-providers.js';
import { defaultTransformSettings, type TransformSettings } from '../../config/settings.js';
import { VariantDelivery } from '../../variants/variant-delivery.js';
import { createVariantMaker } from '../../variants/variant-maker.js';
import { parseReadTarget } from '../../variants/variant-query.js';
import { serveVariant, type ReadVariantDeps } from './read-variant.js';

export interface ReadImageDeps {
  readonly registry: AppRegistry;
  readonly storage: StorageProviders;
  readonly metrics: DarkroomMetrics;
  /** The read path; absent means a storage-only reader over `storage`. */
  readonly imageReader?: ImageReader | undefined;
  /** Bounds on variant transforms (`DARKROOM_TRANSFORM_*`); absent means the defaults. */
  readonly transforms?: TransformSettings | undefined;
}

/** Keys are unique and objects immutable, so any cache may keep an image for a year. */
const immutableCacheControl = 'public, max-age=31536000, immutable';

/** The `outcome` label of `darkroom_image_reads_total`. */
type ReadOutcome = 'ok' | 'not_modified' | 'range_not_satisfiable' | 'not_found' | 'refused' | 'aborted' | 'error';

export function readImageRoutes(router: Router, deps: ReadImageDeps): void {
  const path = '/darkroom/:appName/v2/images/:key';
  const reader = deps.imageReader ?? new ImageReader({ storage: deps.storage, metrics: deps.metrics });
  const delivery = new ImageDelivery(reader, deps.metrics);
  // Variants are read through the same delivery call as originals (CDN first, the same breaker).
  const variants: ReadVariantDeps = {
    variants: new VariantDelivery(delivery, deps.storage, createVariantMaker(deps.transforms ?? defaultTransformSettings, deps.metrics)),
    metrics: deps.metrics,
  };
  // Express routes HEAD to the GET handler; the handler tells them apart.
  router.get(path, readImageHandler(deps, delivery, variants));
}

function readImageHandler(deps: ReadImageDeps, delivery: ImageDelivery, variants: ReadVariantDeps): RequestHandler {
  return async (req, res) => {
    res.locals.route = 'read_image';
    setPublicReadCorsHeaders(res);
    const appName = String(req.params.appName);
    const key = String(req.params.key);
    const app = servedApp(deps.registry, appName);
    if (!isWellFormedImageKey(key)) throw darkroomError('INVALID_IMAGE_KEY');
    // `?w=`, `?preset=`: a variant, on its own path; a plain URL is the original, as always.
    const target = parseReadTarget(searchOf(req.originalUrl), app.spec.variants);
    if (target.kind === 'variant') return serveVariant(req, res, variants, app, app.spec.variants!, key, target.choice);
    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    const started = process.hrtime.bigint();
    const progress: DeliveryProgress = { source: 'storage' };
    const record = (outcome: ReadOutcome): void => {
      deps.metrics.imageReads.inc({ app: appName, source: progress.source, outcome });
      deps.metrics.imageReadDuration.observe({ app: appName, source: progress.source }, Number(process.hrtime.bigint() - started) / 1e9);
    };

    // The upstream request lives no longer than the client's interest in it.
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new DOMException('client closed the connection', 'AbortError'));
    });

    let reply: CheckedReply;
    try {
      reply = await delivery.deliver(
        app,
        {
          method,
          objectKey: storageKey(app.spec.storage.prefix, key),
          rules: originalRules(app),
          range: method === 'GET' ? parseRange(req.get('range')) : undefined,
          preconditions: preconditionsOf(req),
          signal: abort.signal,
          log: logFor(req),
        },
        progress,
      );
    } catch (error) {
      // A client that left is not an error: there is no one to answer.
      if (abort.signal.aborted) return record('aborted');
      const code = (error as { code?: string }).code;
      record(code === 'IMAGE_NOT_FOUND' ? 'not_found' : code === 'IMAGE_REFUSED' ? 'refused' : 'error');
      throw error;
    }
    res.set('X-Darkroom-Source', reply.source);
    progress.source = reply.source;

    if (reply.kind === 'not_modified') {
      setValidators(res, reply);
      res.set('Cache-Control', immutableCacheControl);
      res.status(304).end();
      return record('not_modified');
    }
    if (reply.kind === 'range_not_satisfiable') {
      record('range_not_satisfiable');
      throw darkroomError('RANGE_NOT_SATISFIABLE', reply.contentRange ? { headers: { 'Content-Range': reply.contentRange } } : {});
    }

    // The canonical type, not the stored string: "image/jpg" or parameters never reach the client.
    res.set({ 'Content-Type': reply.contentType, 'Cache-Control': immutableCacheControl, 'Accept-Ranges': 'bytes' });
    if (reply.contentLength !== undefined) res.set('Content-Length', String(reply.contentLength));
    if (reply.contentRange) res.set('Content-Range', reply.contentRange);
    setValidators(res, reply);
    res.status(reply.status);
    if (!reply.body) {
      res.end();
      return record('ok');
    }
    try {
      await streamBody(reply.body, res);
      record('ok');
    } catch (error) {
      reply.body.destroy();
      record(abort.signal.aborted ? 'aborted' : 'error');
      // A client that left is not a server error; anything else mid-stream cuts the connection.
      if (!abort.signal.aborted) logFor(req).warn({ err: error, source: reply.source }, 'image stream failed mid-way');
    }
  };
}

function servedApp(registry: AppRegistry, appName: string): DarkroomApp {
  const lookup = registry.lookup(appName);
  if (lookup.state === 'unknown') throw darkroomError('APP_NOT_FOUND');
  if (lookup.state === 'invalid') throw darkroomError('APP_CONFIG_INVALID');
  return lookup.app;
}

/** The query part of a request target, `?` included (empty when there is none). */
function searchOf(target: string): string {
  const start = target.indexOf('?');
  return start < 0 ? '' : target.slice(start);
}

function preconditionsOf(req: Request): Preconditions {
  return {
    ifNoneMatch: req.get('if-none-match'),
    ifModifiedSince: req.get('if-modified-since'),
    ifRange: req.get('if-range'),
  };
}

function setValidators(res: Response, reply: { etag: string | undefined; lastModified: Date | undefined }): void {
  if (reply.etag) res.set('ETag', reply.etag);
  if (reply.lastModified) res.set('Last-Modified', reply.lastModified.toUTCString());
}
