/**
 * `GET|HEAD /darkroom/{appName}/v2/images/{key}`: the public URL. Reads through the image reader
 * (CDN first behind a breaker, storage fallback), refuses anything that is not an allowed image,
 * and streams the bytes with backpressure (never buffering the object); the upstream request is
 * aborted when the client leaves.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import type { AppRegistry } from '../../config/app-registry.js';
import type { DarkroomApp } from '../../config/darkroom-app.js';
import { darkroomError, isDarkroomError, type DarkroomError } from '../../core/errors.js';
import { isWellFormedImageKey, storageKey } from '../../core/keys.js';
import { parseRange, type Preconditions } from '../../delivery/http-semantics.js';
import { ImageReader, signaturePrefix, type ReadResult, type ReadSource } from '../../delivery/image-reader.js';
import { checkSignature, checkStoredType, type RefusalReason } from '../../delivery/image-policy.js';
import type { SourceReply } from '../../delivery/image-source.js';
import { streamBody } from '../../delivery/stream-body.js';
import type { DarkroomMetrics } from '../../metrics/metrics.js';
import { setPublicReadCorsHeaders } from '../cors.js';
import { logFor } from '../request-context.js';
import type { StorageProviders } from '../../storage/storage-providers.js';

export interface ReadImageDeps {
  readonly registry: AppRegistry;
  readonly storage: StorageProviders;
  readonly metrics: DarkroomMetrics;
  /** The read path; absent means a storage-only reader over `storage`. */
  readonly imageReader?: ImageReader;
}

/** Keys are unique and objects immutable, so any cache may keep an image for a year. */
const immutableCacheControl = 'public, max-age=31536000, immutable';

/** The `outcome` label of `darkroom_image_reads_total`. */
type ReadOutcome = 'ok' | 'not_modified' | 'range_not_satisfiable' | 'not_found' | 'refused' | 'aborted' | 'error';

export function readImageRoutes(router: Router, deps: ReadImageDeps): void {
  const path = '/darkroom/:appName/v2/images/:key';
  const reader = deps.imageReader ?? new ImageReader({ storage: deps.storage, metrics: deps.metrics });
  // Express routes HEAD to the GET handler; the handler tells them apart.
  router.get(path, readImageHandler(deps, reader));
}

function readImageHandler(deps: ReadImageDeps, reader: ImageReader): RequestHandler {
  return async (req, res) => {
    res.locals.route = 'read_image';
    setPublicReadCorsHeaders(res);
    const appName = String(req.params.appName);
    const key = String(req.params.key);
    const app = servedApp(deps.registry, appName);
    if (!isWellFormedImageKey(key)) throw darkroomError('INVALID_IMAGE_KEY');
    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    const started = process.hrtime.bigint();
    const progress: { source: ReadSource } = { source: 'storage' };
    const record = (outcome: ReadOutcome): void => {
      deps.metrics.imageReads.inc({ app: appName, source: progress.source, outcome });
      deps.metrics.imageReadDuration.observe({ app: appName, source: progress.source }, Number(process.hrtime.bigint() - started) / 1e9);
    };

    // The upstream request lives no longer than the client's interest in it.
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new DOMException('client closed the connection', 'AbortError'));
    });

    const objectKey = storageKey(app.spec.storage.prefix, key);
    let result: ReadResult;
    try {
      result = await reader.read(app, {
        method,
        objectKey,
        range: method === 'GET' ? parseRange(req.get('range')) : undefined,
        preconditions: preconditionsOf(req),
        signal: abort.signal,
      }, progress);
    } catch (error) {
      // A client that left is not an error: there is no one to answer.
      if (abort.signal.aborted) {
        record('aborted');
        return;
      }
      record((error as { code?: string }).code === 'IMAGE_NOT_FOUND' ? 'not_found' : 'error');
      throw error;
    }
    const { reply, source } = result;
    res.set('X-Darkroom-Source', source);

    if (reply.status === 304) {
      setValidators(res, reply);
      res.set('Cache-Control', immutableCacheControl);
      res.status(304).end();
      record('not_modified');
      return;
    }

    // A 416 sends no bytes, and the CDN's 416 carries its own error page's type: no type check.
    if (reply.status === 416) {
      record('range_not_satisfiable');
      throw darkroomError('RANGE_NOT_SATISFIABLE', reply.contentRange ? { headers: { 'Content-Range': reply.contentRange } } : {});
    }

    /** Drops the body, counts and logs the refusal, and returns the error to throw. */
    const refusal = (reason: RefusalReason): DarkroomError => {
      reply.body?.destroy();
      refuse(req, deps.metrics, appName, reason, source, reply.contentType);
      record('refused');
      return darkroomError('IMAGE_REFUSED');
    };

    const typeCheck = checkStoredType(key, reply.contentType, app.spec.upload.allowedExtensions);
    if (!typeCheck.ok) throw refusal(typeCheck.reason);

    // A GET's first bytes must be the signature of the stored type (a HEAD sends no bytes).
    if (method === 'GET') {
      let prefix: Buffer;
      try {
        prefix = await signaturePrefix(result, objectKey, abort.signal);
      } catch (error) {
        reply.body?.destroy();
        if (abort.signal.aborted) {
          record('aborted');
          return;
        }
        record('error');
        throw isDarkroomError(error) ? error : darkroomError('STORAGE_UNAVAILABLE', { cause: error, retryAfterSeconds: 1 });
      }
      const signatureCheck = checkSignature(typeCheck.type, prefix);
      if (!signatureCheck.ok) throw refusal(signatureCheck.reason);
    }

    setImageHeaders(res, reply, typeCheck.type.contentType);
    res.status(reply.status);
    if (method === 'HEAD' || !reply.body) {
      reply.body?.destroy();
      res.end();
      record('ok');
      return;
    }
    try {
      await streamBody(reply.body, res);
      record('ok');
    } catch (error) {
      reply.body.destroy();
      record(abort.signal.aborted ? 'aborted' : 'error');
      // A client that left is not a server error; anything else mid-stream cuts the connection.
      if (!abort.signal.aborted) logFor(req).warn({ err: error, source }, 'image stream failed mid-way');
    }
  };
}

function servedApp(registry: AppRegistry, appName: string): DarkroomApp {
  const lookup = registry.lookup(appName);
  if (lookup.state === 'unknown') throw darkroomError('APP_NOT_FOUND');
  if (lookup.state === 'invalid') throw darkroomError('APP_CONFIG_INVALID');
  return lookup.app;
}

function preconditionsOf(req: Request): Preconditions {
  return {
    ifNoneMatch: req.get('if-none-match'),
    ifModifiedSince: req.get('if-modified-since'),
    ifRange: req.get('if-range'),
  };
}

function refuse(req: Request, metrics: DarkroomMetrics, app: string, reason: RefusalReason, source: ReadSource, storedType: string | undefined): void {
  metrics.imageReadsRefused.inc({ app, reason });
  // The stored type is bounded in length so that a hostile upload cannot flood the log line.
  logFor(req).warn({ app, reason, source, storedType: storedType?.slice(0, 100) }, 'refused to serve a stored object that is not an allowed image');
}

function setValidators(res: Response, reply: SourceReply): void {
  if (reply.etag) res.set('ETag', reply.etag);
  if (reply.lastModified) res.set('Last-Modified', reply.lastModified.toUTCString());
}

function setImageHeaders(res: Response, reply: SourceReply, contentType: string): void {
  // The canonical type, not the stored string: "image/jpg" or parameters never reach the client.
  res.set({ 'Content-Type': contentType, 'Cache-Control': immutableCacheControl, 'Accept-Ranges': 'bytes' });
  if (reply.contentLength !== undefined) res.set('Content-Length', String(reply.contentLength));
  if (reply.contentRange) res.set('Content-Range', reply.contentRange);
  setValidators(res, reply);
}
