/**
 * The error catalogue: every error darkroom answers with has a stable code, an HTTP status and a
 * default human message here, and nowhere else. Codes are part of the public contract (clients
 * switch on them); the README documents each one and a test fails when one is missing there.
 *
 * Adapters translate vendor failures into these errors at their edge; `http/error-handler.ts` is
 * the only place that turns them into HTTP responses.
 *
 * A client only ever reads the catalogue's text: the message of an error is always the one below.
 * What a call site knows beyond it (a Secret's or a bucket's name, a namespace, an endpoint, which
 * field of the body was wrong) goes in `detail`, which reaches the logs and `.status`, never a body.
 */

/** Every code darkroom can answer with, its HTTP status and the message used when none is given. */
export const errorCatalogue = {
  // Upload authorisation, in the order the checks run. The owner comes from the gateway's header
  // (`spec.auth.mode: header`) or from a verified bearer token (`spec.auth.mode: jwt`).
  MISSING_TOKEN: { status: 401, message: 'This app needs a bearer token: send "Authorization: Bearer <JWT>".' },
  INVALID_TOKEN: { status: 401, message: 'The bearer token is not valid for this app.' },
  TOKEN_KEYS_UNAVAILABLE: {
    status: 503,
    message: 'The keys that verify this app\'s tokens cannot be fetched right now; retry later.',
  },
  MISSING_OWNER_ID: { status: 400, message: 'The X-Owner-Id header is required.' },
  INVALID_OWNER_ID: {
    status: 400,
    message: 'The X-Owner-Id header must be 1 to 128 visible ASCII characters.',
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be uncompressed UTF-8 application/json.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  INVALID_BODY: {
    status: 400,
    message:
      'The request body must be a JSON object {"file": "<name>"}, optionally with "contentType" (a string) and "size" (bytes, a positive integer), and no other fields.',
  },
  INVALID_FILE_NAME: { status: 400, message: 'The file name is not acceptable.' },
  UNSUPPORTED_FILE_TYPE: {
    status: 415,
    message: 'The file extension is not an image type darkroom knows.',
  },
  CONTENT_TYPE_MISMATCH: {
    status: 415,
    message: 'The content type does not match the file extension.',
  },
  RATE_LIMITED: { status: 429, message: 'Too many upload requests; retry later.' },
  APP_NOT_FOUND: { status: 404, message: 'No such app.' },
  APP_CONFIG_INVALID: {
    status: 503,
    message: 'This app has an invalid configuration and is not being served.',
  },
  PUBLIC_UPLOAD_DISABLED: { status: 403, message: 'This app does not allow public upload.' },
  EXTENSION_NOT_ALLOWED: {
    status: 415,
    message: 'This app does not accept files with this extension.',
  },
  SIZE_REQUIRED: {
    status: 400,
    message: 'This app limits upload size, so "size" (bytes) is required.',
  },
  FILE_TOO_LARGE: { status: 413, message: 'The file is larger than this app allows.' },

  // Public read.
  INVALID_IMAGE_KEY: { status: 400, message: 'The image key is not well-formed.' },
  IMAGE_NOT_FOUND: { status: 404, message: 'No such image.' },
  // 404, not 415: 415 describes a request payload, and to the reader there is no image at this URL.
  IMAGE_REFUSED: {
    status: 404,
    message: 'The stored object is not an allowed image and is not served.',
  },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'The requested range is not satisfiable.' },

  // Variants (`?w=`, `?preset=`, `&q=`).
  INVALID_VARIANT: {
    status: 400,
    message: 'The query does not name a variant this app offers (w, preset, q from its list; nothing else).',
  },
  // 422: the request is well-formed, but this image cannot be made into a variant.
  IMAGE_NOT_TRANSFORMABLE: {
    status: 422,
    message: 'This image cannot be transformed: it is too large, damaged or not a raster image.',
  },
  TRANSFORM_BUSY: { status: 503, message: 'Too many variants are being made right now; retry later.' },

  // Dependencies.
  STORAGE_UNAVAILABLE: {
    status: 503,
    message: 'The storage service is unavailable; retry later.',
  },
  RATE_LIMIT_UNAVAILABLE: {
    status: 503,
    message: 'The rate-limit store is unavailable and uploads are not authorised without it; retry later.',
  },

  // Generic.
  ROUTE_NOT_FOUND: { status: 404, message: 'No such endpoint.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed on this endpoint.' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  INTERNAL_ERROR: { status: 500, message: 'An unexpected error occurred.' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof errorCatalogue;

/** Every code, for the documentation test and for exhaustive checks. */
export const errorCodes = Object.keys(errorCatalogue) as ErrorCode[];

/** Optional extras an error can carry to the HTTP layer. */
export interface DarkroomErrorOptions {
  /**
   * What went wrong in darkroom's own terms (the Secret, namespace, bucket, endpoint or field at
   * fault), for logs only: the client gets the catalogue's message, whatever this says.
   */
  detail?: string;
  /** Seconds a client should wait before retrying (sent as `Retry-After`). */
  retryAfterSeconds?: number;
  /** Extra response headers (for example RateLimit headers on a 429). */
  headers?: Record<string, string>;
  /** The underlying failure, for logs only; never sent to the client. */
  cause?: unknown;
}

/** An error from the catalogue. Anything thrown that is not one is answered as INTERNAL_ERROR. */
export class DarkroomError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Internal detail for the logs (see {@link DarkroomErrorOptions.detail}); never sent. */
  readonly detail: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, options: DarkroomErrorOptions = {}) {
    super(errorCatalogue[code].message, { cause: options.cause });
    this.name = 'DarkroomError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers ?? {};
  }
}

/** Shorthand factory, so call sites read `throw darkroomError('APP_NOT_FOUND')`. */
export function darkroomError(code: ErrorCode, options?: DarkroomErrorOptions): DarkroomError {
  return new DarkroomError(code, options);
}

export function isDarkroomError(value: unknown): value is DarkroomError {
  return value instanceof DarkroomError;
}
