/**
 * The variant branch of the public URL (`?w=`, `?preset=`, `&q=`): decides the variant (size,
 * format by `Accept`, object key), asks variant delivery for it (the stored object read like an
 * original, or made on a miss) and translates the reply to HTTP. Originals never come here.
 */
import type { Request, Response } from 'express';
import type { DarkroomApp, VariantsSpec } from '../../config/darkroom-app.js';
import { darkroomError, isDarkroomError } from '../../core/errors.js';
import { imageTypeForExtension } from '../../core/image-types.js';
import { extensionOfKey } from '../../core/keys.js';
import { isNotModified, parseRange, type Preconditions } from '../../delivery/http-semantics.js';
import type { DeliveryProgress } from '../../delivery/image-delivery.js';
import { streamBody } from '../../delivery/stream-body.js';
import type { DarkroomMetrics } from '../../metrics/metrics.js';
import { immutableCacheControl, type VariantDelivery, type VariantReply } from '../../variants/variant-delivery.js';
import { planVariant } from '../../variants/variant-plan.js';
import type { VariantChoice } from '../../variants/variant-query.js';
import { logFor } from '../request-context.js';

export interface ReadVariantDeps {
  readonly variants: VariantDelivery;
  readonly metrics: DarkroomMetrics;
}

/** The `outcome` label of `darkroom_variant_requests_total`. */
type VariantOutcome = 'cdn' | 'storage' | 'generated' | 'refused';

export async function serveVariant(req: Request, res: Response, deps: ReadVariantDeps, app: DarkroomApp, variants: VariantsSpec, key: string, choice: VariantChoice): Promise<void> {
  const appName = app.metadata.name;
  const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
  const sourceType = imageTypeForExtension(extensionOfKey(key) ?? '');
  // The original itself would be refused: there is nothing to make a variant of.
  if (!sourceType) throw darkroomError('IMAGE_REFUSED');
  const plan = planVariant({ choice, variants, storagePrefix: app.spec.storage.prefix, originalKey: key, sourceContentType: sourceType.contentType, accept: req.get('accept') });
  // Caches must keep the AVIF, WebP and source answers of one URL apart.
  if (plan.variesByAccept) res.vary('Accept');
  const count = (outcome: VariantOutcome) => deps.metrics.variantRequests.inc({ app: appName, outcome });
  // The stored variant is read like an original, so it is counted like one: the CDN fallback ratio
  // (fallbacks over reads) keeps its meaning when variant lookups fall back too.
  const started = process.hrtime.bigint();
  const read = (outcome: 'ok' | 'not_modified' | 'range_not_satisfiable' | 'not_found' | 'refused' | 'error') => {
    deps.metrics.imageReads.inc({ app: appName, source: progress.source, outcome });
    deps.metrics.imageReadDuration.observe({ app: appName, source: progress.source }, Number(process.hrtime.bigint() - started) / 1e9);
  };

  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new DOMException('client closed the connection', 'AbortError'));
  });
  const progress: DeliveryProgress = { source: 'storage' };
  let answer: VariantReply;
  try {
    answer = await deps.variants.deliver(
      app,
      variants,
      { method, originalKey: key, plan, range: method === 'GET' ? parseRange(req.get('range')) : undefined, preconditions: preconditionsOf(req), signal: abort.signal, log: logFor(req) },
      progress,
    );
  } catch (error) {
    if (abort.signal.aborted) return;
    const code = isDarkroomError(error) ? error.code : undefined;
    if (code === 'TRANSFORM_BUSY' || code === 'IMAGE_NOT_TRANSFORMABLE') {
      // The lookup missed; making the variant was refused.
      read('not_found');
      count('refused');
      logFor(req).info({ app: appName, code, err: (error as Error).cause }, 'variant not made');
    } else {
      read(code === 'IMAGE_NOT_FOUND' ? 'not_found' : code === 'IMAGE_REFUSED' ? 'refused' : 'error');
    }
    throw error;
  }

  if (answer.kind === 'made') {
    read('not_found');
    count('generated');
    const { made } = answer;
    res.set({ 'X-Darkroom-Source': 'transform', 'Cache-Control': immutableCacheControl, ETag: made.etag });
    if (isNotModified(preconditionsOf(req), { etag: made.etag, lastModified: undefined })) return void res.status(304).end();
    res.set({ 'Content-Type': made.contentType, 'Content-Length': String(made.data.length) });
    res.status(200);
    return void (method === 'HEAD' ? res.end() : res.end(made.data));
  }

  const { reply } = answer;
  progress.source = reply.source;
  count(reply.source);
  read(reply.kind === 'image' ? 'ok' : reply.kind);
  res.set({ 'X-Darkroom-Source': reply.source, 'Cache-Control': immutableCacheControl });
  if (reply.kind === 'range_not_satisfiable') {
    throw darkroomError('RANGE_NOT_SATISFIABLE', reply.contentRange ? { headers: { 'Content-Range': reply.contentRange } } : {});
  }
  if (reply.etag) res.set('ETag', reply.etag);
  if (reply.lastModified) res.set('Last-Modified', reply.lastModified.toUTCString());
  if (reply.kind === 'not_modified') return void res.status(304).end();
  res.set({ 'Content-Type': reply.contentType, 'Accept-Ranges': 'bytes' });
  if (reply.contentLength !== undefined) res.set('Content-Length', String(reply.contentLength));
  if (reply.contentRange) res.set('Content-Range', reply.contentRange);
  res.status(reply.status);
  if (!reply.body) return void res.end();
  try {
    await streamBody(reply.body, res);
  } catch (error) {
    reply.body.destroy();
    if (!abort.signal.aborted) logFor(req).warn({ err: error, source: reply.source }, 'variant stream failed mid-way');
  }
}

function preconditionsOf(req: Request): Preconditions {
  return { ifNoneMatch: req.get('if-none-match'), ifModifiedSince: req.get('if-modified-since'), ifRange: req.get('if-range') };
}
