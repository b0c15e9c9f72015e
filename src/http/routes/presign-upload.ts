/**
 * `POST /darkroom/{appName}/v1/images/presigned-urls`: authorises one upload and answers with a
 * short-lived signed URL the client PUTs the bytes to, plus the stable public URL.
 *
 * The checks run in the order DESIGN.md fixes, each with its own code: owner header; JSON body of
 * the right shape; file name and a known image extension; per-owner rate limit; app exists; app
 * allows public upload; extension allowed and size within the app's limit.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import type { AppRegistry } from '../../config/app-registry.js';
import { contentTypeMatches } from '../../core/image-types.js';
import { darkroomError } from '../../core/errors.js';
import { toDarkroomError } from '../error-handler.js';
import { newImageKey, sanitiseFileName, storageKey } from '../../core/keys.js';
import { checkUploadPolicy } from '../../core/upload-policy.js';
import { unknownAppLabel, type DarkroomMetrics } from '../../metrics/metrics.js';
import { rateLimitHeaders } from '../../ratelimit/rate-limit-headers.js';
import type { RateLimit, RateLimiter } from '../../ratelimit/rate-limiter.js';
import type { StorageProviders } from '../../storage/storage-providers.js';
import { isJsonMediaType, readJsonBody } from '../json-body.js';
import { sendJson } from '../json-response.js';
import { readOwnerId } from '../owner-id.js';
import { publicImageUrl } from './public-url.js';

/** Largest request body accepted, in bytes: a file name and two numbers fit many times over. */
export const maxPresignBodyBytes = 8 * 1024;

/**
 * Limit applied to requests naming an app that is not configured: the rate limit is checked
 * before the app lookup, and probing for app names must not be free either.
 */
export const unknownAppRateLimit: RateLimit = { requests: 60, windowSeconds: 60 };

const presignBodySchema = z
  .object({
    file: z.string().min(1).max(1024),
    contentType: z.string().min(1).max(255).optional(),
    size: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();

export interface PresignUploadDeps {
  readonly registry: AppRegistry;
  readonly storage: StorageProviders;
  readonly rateLimiter: RateLimiter;
  readonly metrics: DarkroomMetrics;
  /** Used for apps whose spec names no `publicBaseURL`. */
  readonly defaultPublicBaseURL: string | undefined;
}

export function presignUploadRoutes(router: Router, deps: PresignUploadDeps): void {
  // One handler for the whole endpoint, body reading included: each extra route layer, and
  // body-parser's generality, cost a visible share of this endpoint's throughput.
  router.post('/darkroom/:appName/v1/images/presigned-urls', presignHandler(deps));
}

function presignHandler(deps: PresignUploadDeps): RequestHandler {
  return async (req, res) => {
    res.locals.route = 'presign_upload';
    try {
      await authoriseUpload(deps, req, res);
    } catch (error) {
      // Every refusal, whichever check raised it, is counted once here with its code as the reason.
      const label = typeof res.locals.appLabel === 'string' ? res.locals.appLabel : unknownAppLabel;
      deps.metrics.uploadUrlsRefused.inc({ app: label, reason: toDarkroomError(error).code });
      throw error;
    }
  };
}

async function authoriseUpload(deps: PresignUploadDeps, req: Request, res: Response): Promise<void> {
  // The owner header is checked before the body is read, so it is reported before a bad body.
  const ownerId = readOwnerId(req.headers);
  if (!isJsonMediaType(req.headers['content-type'])) throw darkroomError('UNSUPPORTED_MEDIA_TYPE');
  const body = parseBody(await readJsonBody(req, maxPresignBodyBytes));
  const appName = String(req.params.appName);
  const file = sanitiseFileName(body.file);
  if (!file.ok) throw darkroomError(file.problem === 'invalid' ? 'INVALID_FILE_NAME' : 'UNSUPPORTED_FILE_TYPE');
  const { imageType, extension, name } = file.value;
  if (body.contentType !== undefined && !contentTypeMatches(body.contentType, imageType)) {
    throw darkroomError('CONTENT_TYPE_MISMATCH');
  }

  const lookup = deps.registry.lookup(appName);
  if (lookup.state !== 'unknown') res.locals.appLabel = appName;
  const limit = lookup.state === 'served' ? lookup.app.spec.rateLimit : unknownAppRateLimit;
  // Unknown names share one bucket per owner, so random names cannot grow the limiter's state.
  const decision = await deps.rateLimiter.consume(lookup.state === 'unknown' ? '' : appName, ownerId, limit);
  const limitHeaders = rateLimitHeaders(decision);
  for (const name in limitHeaders) res.setHeader(name, limitHeaders[name] as string);
  if (!decision.allowed) {
    deps.metrics.rateLimitRejections.inc({ app: lookup.state === 'unknown' ? unknownAppLabel : appName });
    throw darkroomError('RATE_LIMITED', { retryAfterSeconds: decision.retryAfterSeconds });
  }

  if (lookup.state === 'unknown') throw darkroomError('APP_NOT_FOUND');
  if (lookup.state === 'invalid') throw darkroomError('APP_CONFIG_INVALID');
  const { spec } = lookup.app;
  const sizeRequired = spec.storage.provider === 's3' && spec.upload.requireSize;
  const refusal = checkUploadPolicy({ ...spec.upload, allowPublicUpload: spec.allowPublicUpload, sizeRequired }, { extension, size: body.size });
  if (refusal) throw darkroomError(refusal);
  const publicBaseURL = spec.publicBaseURL ?? deps.defaultPublicBaseURL;
  if (!publicBaseURL) {
    throw darkroomError('APP_CONFIG_INVALID', {
      message: 'This app has no publicBaseURL and darkroom has no DARKROOM_PUBLIC_BASE_URL.',
    });
  }

  const key = newImageKey(name);
  const presigned = await deps.storage.forApp(lookup.app).presignUpload({
    key: storageKey(spec.storage.prefix, key),
    contentType: imageType.contentType,
    contentLength: body.size,
    maxBytes: spec.upload.maxBytes,
    expiresInSeconds: spec.upload.urlTTLSeconds,
  });
  deps.metrics.uploadUrlsIssued.inc({ app: appName });
  // A signed URL is a short-lived credential: no cache may keep it.
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, 200, {
    success: true,
    data: {
      uploadURL: presigned.url,
      publicURL: publicImageUrl(publicBaseURL, appName, key),
      key,
      method: presigned.method,
      headers: presigned.headers,
      expiresAt: presigned.expiresAt.toISOString(),
    },
  });
}

function parseBody(body: unknown): z.infer<typeof presignBodySchema> {
  const result = presignBodySchema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.map(String).join('.');
  const message =
    issue?.code === 'unrecognized_keys'
      ? 'The body has unknown fields; expected "file", optionally "contentType" and "size".'
      : field
        ? `Field "${field}" is invalid: ${issue?.message ?? 'unexpected value'}.`
        : 'The body must be a JSON object such as {"file": "photo.jpg", "size": 12345}.';
  throw darkroomError('INVALID_BODY', { message });
}
