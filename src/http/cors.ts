/**
 * CORS on darkroom's own endpoints (Fetch standard, "CORS protocol").
 *
 * - The presign endpoint answers cross-origin requests only from the origins the app lists in
 *   `spec.upload.allowedOrigins`: the preflight names the method and the request headers a client
 *   sends, the origin is echoed (never `*`: the answer depends on it, hence `Vary: Origin`), and
 *   the rate-limit and error headers are exposed so a page can honour `Retry-After`.
 * - Any other origin, an unknown app or an app with no origins gets a `204` preflight with no
 *   CORS headers: the browser then refuses the request itself ("doesn't pass access control
 *   check"). Not a 403 or 404: a preflight answer must not tell a stranger which apps exist.
 * - Public image reads are public: `Access-Control-Allow-Origin: *` and
 *   `Cross-Origin-Resource-Policy: cross-origin`, so `fetch`, `<img crossorigin>` into a canvas
 *   and pages with `Cross-Origin-Embedder-Policy: require-corp` all work.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { AppRegistry } from '../config/app-registry.js';

/** Methods of the presign endpoint, as `Allow` and `Access-Control-Allow-Methods` name them. */
export const presignMethods = 'POST';
/**
 * Request headers a presign client may send: the body's type, the owner header in both spellings
 * darkroom reads (Chromium and Firefox send `X_Owner_Id` from `fetch` too: `_` is a token
 * character), and `Authorization` for apps that take a bearer token.
 */
export const presignRequestHeaders = 'Content-Type, X-Owner-Id, X_Owner_Id, Authorization';
/** Response headers a page may read beyond the CORS-safelisted ones. */
export const presignExposedHeaders = 'RateLimit, RateLimit-Policy, Retry-After, X-Request-Id, WWW-Authenticate';
/** How long a browser may cache a preflight, in seconds (Chromium caps it at 7200). */
export const preflightMaxAgeSeconds = 600;

/** Conditional and range headers a reader may send; none of them is CORS-safelisted in general. */
export const readRequestHeaders = 'Range, If-None-Match, If-Modified-Since, If-Range';
/** Response headers a reading page may see beyond the safelisted ones. */
export const readExposedHeaders = 'ETag, Content-Range, Accept-Ranges, X-Request-Id';

/** The origin to echo for a request from `origin` to an app listing `allowed`; undefined: none. Pure. */
export function allowedOrigin(origin: string | undefined, allowed: readonly string[] | undefined): string | undefined {
  if (origin === undefined || !allowed) return undefined;
  // Origins are compared as the browser serialises them, byte for byte (the schema makes the list match that form).
  return allowed.includes(origin) ? origin : undefined;
}

function originsOf(registry: AppRegistry, appName: string): readonly string[] | undefined {
  const lookup = registry.lookup(appName);
  return lookup.state === 'served' ? lookup.app.spec.upload.allowedOrigins : undefined;
}

function appendVary(res: ServerResponse, value: string): void {
  const current = res.getHeader('Vary');
  res.setHeader('Vary', current ? `${String(current)}, ${value}` : value);
}

/**
 * Sets the CORS headers of an actual (non-preflight) presign request from a listed origin, on
 * success and refusal alike, so a page can read darkroom's JSON error and its `Retry-After`.
 */
export function presignCorsHeaders(registry: AppRegistry, req: IncomingMessage, res: ServerResponse, appName: string): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  appendVary(res, 'Origin');
  const allowed = allowedOrigin(origin, originsOf(registry, appName));
  if (allowed === undefined) return;
  res.setHeader('Access-Control-Allow-Origin', allowed);
  res.setHeader('Access-Control-Expose-Headers', presignExposedHeaders);
}

/** `OPTIONS` on the presign endpoint: the CORS preflight, and plain `OPTIONS` (`Allow`). */
export function presignPreflight(registry: AppRegistry): RequestHandler {
  return (req, res) => {
    res.locals.route = 'presign_upload_preflight';
    res.setHeader('Allow', `${presignMethods}, OPTIONS`);
    res.setHeader('Cache-Control', 'no-store');
    const origin = req.headers.origin;
    if (origin !== undefined) {
      appendVary(res, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
      const allowed = allowedOrigin(origin, originsOf(registry, String(req.params.appName)));
      if (allowed !== undefined && req.headers['access-control-request-method'] === 'POST') {
        res.setHeader('Access-Control-Allow-Origin', allowed);
        res.setHeader('Access-Control-Allow-Methods', presignMethods);
        res.setHeader('Access-Control-Allow-Headers', presignRequestHeaders);
        res.setHeader('Access-Control-Max-Age', String(preflightMaxAgeSeconds));
      }
    }
    res.statusCode = 204;
    res.end();
  };
}

/** The headers every public read answer carries, errors included: the image URL is public. */
export function setPublicReadCorsHeaders(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', readExposedHeaders);
  res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
  res.setHeader('Timing-Allow-Origin', '*');
}

/** `OPTIONS` on a public image URL: any origin may read it, with conditional and range headers. */
export const readPreflight: RequestHandler = (_req, res) => {
  res.locals.route = 'read_image_preflight';
  setPublicReadCorsHeaders(res);
  res.setHeader('Allow', 'GET, HEAD, OPTIONS');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD');
  res.setHeader('Access-Control-Allow-Headers', readRequestHeaders);
  res.setHeader('Access-Control-Max-Age', String(preflightMaxAgeSeconds));
  res.statusCode = 204;
  res.end();
};
