/**
 * The storage contract darkroom needs from a bucket, with no SDK in sight. One implementation per
 * cloud (S3, GCS); each translates its SDK's failures into catalogue errors at its edge, so that
 * nothing above this line knows which cloud it talks to.
 *
 * Errors are `StorageFailure`s (catalogue errors that also say which storage fault they stand for,
 * for metrics and logs): see `StorageFault` for the mapping, and docs/reads.md for why.
 */
import type { Readable } from 'node:stream';
import type { BucketCorsReading } from '../core/bucket-cors.js';
import { DarkroomError, isDarkroomError } from '../core/errors.js';

/** What to sign. */
export interface PresignUploadRequest {
  /** Full object key in the bucket (prefix included). */
  readonly key: string;
  /** Bound into the signature: the PUT must carry exactly this Content-Type. */
  readonly contentType: string;
  /** When set, the upload must be exactly this many bytes (S3) or at most `maxBytes` (GCS). */
  readonly contentLength: number | undefined;
  /** The app's size limit, for providers that sign a range rather than an exact length. */
  readonly maxBytes: number;
  /** Lifetime of the URL in seconds. */
  readonly expiresInSeconds: number;
}

/** A URL a client can PUT the bytes to, and exactly how to use it. */
export interface PresignedUpload {
  readonly url: string;
  readonly method: 'PUT';
  /** Headers the client must send byte for byte, or the storage service refuses the signature. */
  readonly headers: Readonly<Record<string, string>>;
  readonly expiresAt: Date;
}

/** What is known of a stored object without reading it. */
export interface ObjectMetadata {
  readonly contentType: string | undefined;
  readonly contentLength: number;
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
}

/** An object being read: its metadata and a stream of its bytes. */
export interface ObjectReadStream extends ObjectMetadata {
  readonly body: Readable;
}

/** Options for reading. */
export interface ReadOptions {
  /** Aborts the upstream request (client gone, deadline passed). */
  readonly signal?: AbortSignal;
  /**
   * Read only bytes `start` to `end` (inclusive, zero-based; `end` absent means to the end of the
   * object). The caller has checked the range against the object's size. The returned
   * `contentLength` is then the length of the range, not of the object. `head` ignores it.
   */
  readonly range?: { readonly start: number; readonly end?: number };
}

/** The `Range` header asking for a read's byte range (`bytes=start-end`, or `bytes=start-` to the end); undefined for the whole object. */
export function rangeHeaderOf(range: ReadOptions['range']): string | undefined {
  return range ? `bytes=${range.start}-${range.end ?? ''}` : undefined;
}

/** An object darkroom writes itself (a variant it made), never bytes from a client. */
export interface PutObjectRequest {
  /** Full object key in the bucket (prefix included). */
  readonly key: string;
  readonly body: Buffer;
  readonly contentType: string;
  /** Stored with the object, so a CDN in front of the bucket caches it as darkroom would. */
  readonly cacheControl: string;
}

export interface StorageProvider {
  /**
   * Signs a PUT for one object. Local CPU work for most providers. The URL never overwrites: a
   * PUT to a key that already holds an object fails with 412 (the precondition is signed and
   * listed in `headers`).
   */
  presignUpload(request: PresignUploadRequest): Promise<PresignedUpload>;
  /**
   * Opens a stream of the object's bytes. The caller must consume or destroy `body`. `signal`
   * cancels the request while waiting for the answer, and the body after it (the connection is
   * closed, not left to finish).
   */
  openRead(key: string, options?: ReadOptions): Promise<ObjectReadStream>;
  /** The object's metadata; `signal` cancels the request. */
  head(key: string, options?: ReadOptions): Promise<ObjectMetadata>;
  /**
   * Writes an object darkroom made, replacing one at the same key (a variant made twice, by two
   * replicas that raced, has the same bytes). `signal` cancels the request.
   */
  put(request: PutObjectRequest, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Releases the provider's connections (its SDK client and sockets); called when it is replaced or dropped. */
  close(): void;
  /** The bucket's CORS rules, for the `CORSReady` condition; never throws. Absent: not checked. */
  readCorsRules?(options?: { signal?: AbortSignal }): Promise<BucketCorsReading>;
}

/**
 * What went wrong in storage, as the read path meters it (`darkroom_storage_errors_total{reason}`):
 * - `not_found`: no such object (IMAGE_NOT_FOUND, not metered: clients probe keys);
 * - `access_denied`: storage refused the identity. S3 answers a missing key with 403 when the role
 *   lacks `s3:ListBucket` (least-privilege IAM does this), so the client gets IMAGE_NOT_FOUND
 *   (404) like for any missing key, and the operator sees the reason in the metric and a log line;
 * - `bucket_missing`: the app's bucket does not exist: the app is misconfigured, every read of it
 *   fails, so the client gets APP_CONFIG_INVALID (503) and the operator the metric and a log line;
 * - `timeout`: no answer within the deadline; `unavailable`: anything else that means "try again
 *   later" (network, throttling, 5xx). Both STORAGE_UNAVAILABLE (503, `Retry-After: 1`).
 */
export type StorageFault = 'not_found' | 'access_denied' | 'bucket_missing' | 'timeout' | 'unavailable';

/** A storage failure in catalogue terms, with the fault it stands for. */
export class StorageFailure extends DarkroomError {
  constructor(
    readonly fault: StorageFault,
    options: { cause?: unknown; message?: string } = {},
  ) {
    super(codeFor(fault), {
      ...options,
      ...(fault === 'timeout' || fault === 'unavailable' ? { retryAfterSeconds: 1 } : {}),
    });
  }
}

function codeFor(fault: StorageFault) {
  switch (fault) {
    case 'not_found':
    case 'access_denied':
      return 'IMAGE_NOT_FOUND' as const;
    case 'bucket_missing':
      return 'APP_CONFIG_INVALID' as const;
    case 'timeout':
    case 'unavailable':
      return 'STORAGE_UNAVAILABLE' as const;
  }
}

/**
 * A provider's failure in catalogue terms: a catalogue error passes through, anything else
 * becomes a `StorageFailure` of `fault`.
 */
export function storageError(error: unknown, fault: StorageFault): DarkroomError {
  if (isDarkroomError(error)) return error;
  return new StorageFailure(fault, { cause: error });
}

/** The fault a failure stands for, when it is a storage failure. */
export function storageFaultOf(error: unknown): StorageFault | undefined {
  return error instanceof StorageFailure ? error.fault : undefined;
}

/**
 * When a URL signed at `nowMs` is valid. Signatures carry whole seconds (`X-Amz-Date`,
 * `X-Goog-Date`), so signing from the start of the second makes `expiresAt` exactly the instant
 * storage stops accepting the URL.
 */
export function signingWindow(nowMs: number, expiresInSeconds: number): { signedAt: Date; expiresAt: Date } {
  const signedAtMs = Math.floor(nowMs / 1000) * 1000;
  return { signedAt: new Date(signedAtMs), expiresAt: new Date(signedAtMs + expiresInSeconds * 1000) };
}
