/**
 * `GET|HEAD /darkroom/{appName}/v2/images/{key}`: the public URL. Streams the object from storage
 * with backpressure (never buffering it), and aborts the storage request when the client leaves.
 */
import type { RequestHandler, Response, Router } from 'express';
import { pipeline } from 'node:stream/promises';
import type { AppRegistry } from '../../config/app-registry.js';
import type { DarkroomApp } from '../../config/darkroom-app.js';
import { darkroomError } from '../../core/errors.js';
import { isWellFormedImageKey, storageKey } from '../../core/keys.js';
import type { DarkroomMetrics } from '../../metrics/metrics.js';
import type { ObjectMetadata } from '../../storage/storage-provider.js';
import type { StorageProviders } from '../../storage/storage-providers.js';

export interface ReadImageDeps {
  readonly registry: AppRegistry;
  readonly storage: StorageProviders;
  readonly metrics: DarkroomMetrics;
}

/** Keys are unique and objects immutable, so any cache may keep an image for a year. */
const immutableCacheControl = 'public, max-age=31536000, immutable';

export function readImageRoutes(router: Router, deps: ReadImageDeps): void {
  const path = '/darkroom/:appName/v2/images/:key';
  // Express routes HEAD to the GET handler; the handler tells them apart.
  router.get(path, readImageHandler(deps));
}

function readImageHandler(deps: ReadImageDeps): RequestHandler {
  return async (req, res) => {
    res.locals.route = 'read_image';
    const appName = String(req.params.appName);
    const key = String(req.params.key);
    const app = servedApp(deps.registry, appName);
    if (!isWellFormedImageKey(key)) throw darkroomError('INVALID_IMAGE_KEY');
    const provider = deps.storage.forApp(app);
    const objectKey = storageKey(app.spec.storage.prefix, key);

    // The storage request lives no longer than the client's interest in it.
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });

    if (req.method === 'HEAD') {
      const metadata = await provider.head(objectKey, { signal: abort.signal });
      setImageHeaders(res, metadata);
      deps.metrics.imageReads.inc({ app: appName, source: 'storage', outcome: 'ok' });
      res.status(200).end();
      return;
    }

    const object = await provider.openRead(objectKey, { signal: abort.signal });
    setImageHeaders(res, object);
    res.status(200);
    try {
      await pipeline(object.body, res);
      deps.metrics.imageReads.inc({ app: appName, source: 'storage', outcome: 'ok' });
    } catch (error) {
      object.body.destroy();
      deps.metrics.imageReads.inc({ app: appName, source: 'storage', outcome: 'aborted' });
      // A client that left is not a server error; anything else mid-stream cuts the connection.
      if (!abort.signal.aborted) req.log.warn({ err: error }, 'image stream failed mid-way');
    }
  };
}

function servedApp(registry: AppRegistry, appName: string): DarkroomApp {
  const lookup = registry.lookup(appName);
  if (lookup.state === 'unknown') throw darkroomError('APP_NOT_FOUND');
  if (lookup.state === 'invalid') throw darkroomError('APP_CONFIG_INVALID');
  return lookup.app;
}

function setImageHeaders(res: Response, metadata: ObjectMetadata): void {
  res.set({
    'Content-Type': metadata.contentType ?? 'application/octet-stream',
    'Content-Length': String(metadata.contentLength),
    'Cache-Control': immutableCacheControl,
  });
  if (metadata.etag) res.set('ETag', metadata.etag);
  if (metadata.lastModified) res.set('Last-Modified', metadata.lastModified.toUTCString());
}
