/**
 * The typed errors of darkroom's upload client. Every failure is an `UploadError` carrying where
 * it happened (`source`), a stable `code` (darkroom's catalogue code, storage's XML error code, or
 * one of the client's own), the HTTP status when there was one, and the request id to find the
 * log line. Subclasses name the cases a caller handles differently.
 */
import type { ErrorCode } from '../core/errors.js';

/** darkroom's stable error codes (its error catalogue). */
export type DarkroomErrorCode = ErrorCode;

/** Where an upload failed. */
export type UploadErrorSource = 'darkroom' | 'storage' | 'network' | 'client';

/** Codes the client itself produces (the rest are darkroom's catalogue or storage's). */
export type ClientErrorCode = 'NETWORK_ERROR' | 'ABORTED' | 'BAD_ANSWER' | 'STORAGE_REFUSED';

/** Any failure of `uploadImage`. */
export class UploadError extends Error {
  /**
   * darkroom's catalogue code ({@link DarkroomErrorCode}: `RATE_LIMITED`, ...), storage's XML error code
   * (`SignatureDoesNotMatch`, ...) or a {@link ClientErrorCode}.
   */
  readonly code: string;
  readonly source: UploadErrorSource;
  /** HTTP status of the failed answer; 0 when there was none. */
  readonly status: number;
  /** darkroom's request id, when it answered. */
  readonly requestId: string | undefined;

  constructor(message: string, details: { code: string; source: UploadErrorSource; status?: number; requestId?: string | undefined; cause?: unknown }) {
    super(message, { cause: details.cause });
    this.name = 'UploadError';
    this.code = details.code;
    this.source = details.source;
    this.status = details.status ?? 0;
    this.requestId = details.requestId;
  }
}

/** darkroom refused the upload (policy, validation, unknown app): retrying the same request will not help. */
export class UploadRefusedError extends UploadError {
  constructor(message: string, details: { code: string; status: number; requestId?: string | undefined }) {
    super(message, { ...details, source: 'darkroom' });
    this.name = 'UploadRefusedError';
  }
}

/** The owner is over the app's upload limit, and waiting `retryAfterSeconds` was not allowed or did not help. */
export class RateLimitedError extends UploadError {
  /** Seconds until a retry can succeed (`Retry-After`). */
  readonly retryAfterSeconds: number | undefined;

  constructor(message: string, details: { status: number; retryAfterSeconds: number | undefined; requestId?: string | undefined }) {
    super(message, { code: 'RATE_LIMITED', source: 'darkroom', status: details.status, requestId: details.requestId });
    this.name = 'RateLimitedError';
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** darkroom or one of its dependencies is down (5xx): retry later. */
export class DarkroomUnavailableError extends UploadError {
  readonly retryAfterSeconds: number | undefined;

  constructor(message: string, details: { code: string; status: number; retryAfterSeconds: number | undefined; requestId?: string | undefined }) {
    super(message, { ...details, source: 'darkroom' });
    this.name = 'DarkroomUnavailableError';
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** Storage refused the PUT (an expired URL, a changed file, bucket CORS): `code` is storage's own. */
export class StorageUploadError extends UploadError {
  constructor(message: string, details: { code: string; status: number; cause?: unknown }) {
    super(message, { ...details, source: details.status === 0 ? 'network' : 'storage' });
    this.name = 'StorageUploadError';
  }
}

/** The caller's `signal` aborted the upload. */
export class UploadAbortedError extends UploadError {
  constructor(cause?: unknown) {
    super('The upload was aborted.', { code: 'ABORTED', source: 'client', cause });
    this.name = 'UploadAbortedError';
  }
}
