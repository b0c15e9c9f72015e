/**
 * The storage contract darkroom needs from a bucket, with no SDK in sight. One implementation per
 * cloud (S3, GCS); each translates its SDK's failures into catalogue errors at its edge, so that
 * nothing above this line knows which cloud it talks to.
 *
 * Errors: `IMAGE_NOT_FOUND` for a missing object, `STORAGE_UNAVAILABLE` for anything that means
 * "try again later" (network, throttling, 5xx, credentials the service refused).
 */
import type { Readable } from 'node:stream';
import { darkroomError, isDarkroomError, type DarkroomError } from '../core/errors.js';

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
  /** Signs a PUT for one object. Local CPU work for most providers. */
  presignUpload(request: PresignUploadRequest): Promise<PresignedUpload>;
  /** Opens a stream of the object's bytes. The caller must consume or destroy `body`. */
  openRead(key: string, options?: ReadOptions): Promise<ObjectReadStream>;
  /** The object's metadata. */
  head(key: string, options?: ReadOptions): Promise<ObjectMetadata>;
  /**
   * Writes an object darkroom made, replacing one at the same key (a variant made twice, by two
   * replicas that raced, has the same bytes). `signal` cancels the request.
   */
  put(request: PutObjectRequest, options?: { readonly signal?: AbortSignal }): Promise<void>;
}

/**
 * A provider's failure in catalogue terms, as the header above describes: a catalogue error passes
 * through, `notFound` (what the SDK says of a missing object) becomes IMAGE_NOT_FOUND, anything
 * else STORAGE_UNAVAILABLE with a one-second Retry-After.
 */
export function storageError(error: unknown, notFound: boolean): DarkroomError {
  if (isDarkroomError(error)) return error;
  if (notFound) return darkroomError('IMAGE_NOT_FOUND', { cause: error });
  return darkroomError('STORAGE_UNAVAILABLE', { cause: error, retryAfterSeconds: 1 });
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
