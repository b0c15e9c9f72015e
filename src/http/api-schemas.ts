/**
 * The public API's answers as zod schemas, and which catalogue codes each endpoint can answer
 * with. The routes type their answers with these schemas, and the OpenAPI document
 * (`openapi-document.ts`) is generated from them and from the request schemas the routes parse,
 * so the description cannot drift from what is served.
 */
import { z } from 'zod';
import { errorCatalogue, type ErrorCode } from '../core/errors.js';

/** `data` of a granted upload: exactly how to use the signed URL. */
export const presignGrantSchema = z
  .object({
    uploadURL: z.string().meta({ description: 'Signed storage URL to PUT the bytes to; a short-lived credential.' }),
    publicURL: z.string().meta({ description: 'The stable public URL the image will be served at.' }),
    key: z.string().meta({ description: 'The image key, `{id}-{name}`.', example: '3f2a9c0e5b7d4f61a8c2e9d04b6f1a37-holiday-photo.jpg' }),
    method: z.literal('PUT'),
    headers: z
      .record(z.string(), z.string())
      .meta({ description: 'Headers the PUT must carry byte for byte (browsers set Content-Length themselves).', example: { 'Content-Type': 'image/jpeg', 'Content-Length': '48213' } }),
    expiresAt: z.string().meta({ description: 'When storage stops accepting the URL (ISO 8601).', format: 'date-time' }),
  })
  .meta({ id: 'PresignGrant' });

export const presignResponseSchema = z.object({ success: z.literal(true), data: presignGrantSchema }).meta({ id: 'PresignResponse' });
export type PresignResponse = z.infer<typeof presignResponseSchema>;

/** The error envelope for a given set of codes (each status lists the codes it can carry). */
export function errorResponseSchema(codes: readonly ErrorCode[]) {
  return z.object({
    success: z.literal(false),
    error: z.object({
      code: z.enum(codes as [ErrorCode, ...ErrorCode[]]).meta({ description: 'Stable code; clients switch on it.' }),
      message: z.string().meta({ description: 'A sentence for people; may change.' }),
      requestId: z.string().optional().meta({ description: 'The X-Request-Id of the request, also in every log line.' }),
    }),
  });
}

export const healthSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });
export const readinessSchema = z
  .object({ status: z.enum(['ready', 'not ready']), reasons: z.array(z.string()).optional() })
  .meta({ id: 'Readiness' });

/** Codes any endpoint can answer with (the router and the error handler's own). */
export const genericErrorCodes = ['BAD_REQUEST', 'INTERNAL_ERROR'] as const satisfies readonly ErrorCode[];

/** Codes of `POST /darkroom/{appName}/v1/images/presigned-urls`, in the order its checks run. */
export const presignErrorCodes = [
  'MISSING_OWNER_ID',
  'INVALID_OWNER_ID',
  // jwt mode (spec.auth.mode): the bearer token takes the owner header's place.
  'MISSING_TOKEN',
  'INVALID_TOKEN',
  'TOKEN_KEYS_UNAVAILABLE',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'INVALID_JSON',
  'INVALID_BODY',
  'INVALID_FILE_NAME',
  'UNSUPPORTED_FILE_TYPE',
  'CONTENT_TYPE_MISMATCH',
  'RATE_LIMITED',
  'RATE_LIMIT_UNAVAILABLE',
  'APP_NOT_FOUND',
  'APP_CONFIG_INVALID',
  'PUBLIC_UPLOAD_DISABLED',
  'EXTENSION_NOT_ALLOWED',
  'SIZE_REQUIRED',
  'FILE_TOO_LARGE',
  'STORAGE_UNAVAILABLE',
  ...genericErrorCodes,
] as const satisfies readonly ErrorCode[];

/** Codes of `GET|HEAD /darkroom/{appName}/v2/images/{key}`. */
export const readErrorCodes = [
  'APP_NOT_FOUND',
  'APP_CONFIG_INVALID',
  'INVALID_IMAGE_KEY',
  'IMAGE_NOT_FOUND',
  'IMAGE_REFUSED',
  'RANGE_NOT_SATISFIABLE',
  // Variants (`?w=`, `?preset=`, `&q=`).
  'INVALID_VARIANT',
  'IMAGE_NOT_TRANSFORMABLE',
  'TRANSFORM_BUSY',
  'STORAGE_UNAVAILABLE',
  ...genericErrorCodes,
] as const satisfies readonly ErrorCode[];

/** Codes for a path or method no route serves (described on the document's default response). */
export const routingErrorCodes = ['ROUTE_NOT_FOUND', 'METHOD_NOT_ALLOWED'] as const satisfies readonly ErrorCode[];

/** `codes` grouped by HTTP status, in status order. Pure. */
export function codesByStatus(codes: readonly ErrorCode[]): Map<number, ErrorCode[]> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = errorCatalogue[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return new Map([...byStatus].sort(([a], [b]) => a - b));
}
