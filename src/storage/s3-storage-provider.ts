/**
 * S3 (and S3-compatible stores) behind the storage contract, on the AWS SDK v3.
 *
 * Presigned PUTs sign `content-type`, `if-none-match: *` (never overwrite) and, when a length is
 * given, `content-length` as well:
 * `getSignedUrl` signs only `host` unless told otherwise, which would let a client upload any
 * type or size under the URL. URLs come from `S3Presigner`, which produces `getSignedUrl`'s exact
 * URLs for a fraction of the CPU. darkroom's own reads and writes of objects go out as signed URLs
 * too (`S3ObjectRequests`, over undici, about a quarter of the SDK's CPU per request), through the
 * SDK when their template cannot be prepared. Errors of both paths are translated here, never above.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { DarkroomError } from '../core/errors.js';
import {
  rangeHeaderOf,
  signingWindow,
  StorageFailure,
  storageError,
  type ObjectMetadata,
  type ObjectReadStream,
  type PresignedUpload,
  type PresignUploadRequest,
  type PutObjectRequest,
  type ReadOptions,
  type StorageFault,
  type StorageProvider,
} from './storage-provider.js';
import { cutWhenIdle } from './body-idle-timeout.js';
import { S3ObjectRequests } from './s3-object-requests.js';
import { S3Presigner, type S3PresignerOptions } from './s3-presigner.js';

/** Options beyond the client and bucket. */
export interface S3ProviderOptions extends S3PresignerOptions {
  /** Clock for signing dates, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Longest pause between two body chunks of a read before it is cut, in ms. Default 15 000. */
  readonly bodyIdleTimeoutMs?: number;
}

const defaultBodyIdleTimeoutMs = 15_000;
import { readS3BucketCors } from './s3-bucket-cors.js';
import type { BucketCorsReading } from '../core/bucket-cors.js';

export class S3StorageProvider implements StorageProvider {
  readonly #presigner: S3Presigner;
  /** darkroom's own reads and writes, as signed URLs over undici; the SDK sends those it cannot sign. */
  readonly #requests: S3ObjectRequests;
  readonly #now: () => number;
  readonly #bodyIdleTimeoutMs: number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    options: S3ProviderOptions = {},
  ) {
    this.#presigner = new S3Presigner(client, bucket, options);
    this.#now = options.now ?? Date.now;
    this.#bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? defaultBodyIdleTimeoutMs;
    this.#requests = new S3ObjectRequests(this.#presigner, { now: this.#now, bodyIdleTimeoutMs: this.#bodyIdleTimeoutMs });
  }

  async presignUpload(request: PresignUploadRequest): Promise<PresignedUpload> {
    // If-None-Match: * is signed: a second PUT to the key fails with 412 instead of overwriting.
    const headers: Record<string, string> = { 'Content-Type': request.contentType, 'If-None-Match': '*' };
    if (request.contentLength !== undefined) headers['Content-Length'] = String(request.contentLength);
    // On S3's time when darkroom's own requests have shown this node's clock to be off, as the
    // SDK's getSignedUrl does with its corrected clock: a URL must be valid by S3's clock.
    const { signedAt } = signingWindow(this.#now() + this.#requests.clockOffsetMs, request.expiresInSeconds);
    try {
      const signed = await this.#presigner.presignPut({
        key: request.key,
        contentType: request.contentType,
        contentLength: request.contentLength,
        expiresInSeconds: request.expiresInSeconds,
        signingDate: signedAt,
      });
      // The signed lifetime, which the credentials' own expiry may have shortened.
      return { url: signed.url, method: 'PUT', headers, expiresAt: signingWindow(signedAt.getTime(), signed.expiresInSeconds).expiresAt };
    } catch (error) {
      throw translateS3Error(error);
    }
  }

  async openRead(key: string, options: ReadOptions = {}): Promise<ObjectReadStream> {
    try {
      const signed = await this.#requests.get(key, options);
      if (signed) return signed;
      const range = rangeHeaderOf(options.range);
      const output = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }), {
        abortSignal: options.signal,
      });
      if (!output.Body) throw new StorageFailure('unavailable', { cause: new Error('GetObject returned no body') });
      const body = output.Body as Readable;
      cutWhenIdle(body, this.#bodyIdleTimeoutMs, 'S3 object body');
      return { body, ...metadataOf(output) };
    } catch (error) {
      throw translateS3Error(error);
    }
  }

  async head(key: string, options: ReadOptions = {}): Promise<ObjectMetadata> {
    try {
      const signed = await this.#requests.head(key, options);
      if (signed) return signed;
      const output = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: options.signal,
      });
      return metadataOf(output);
    } catch (error) {
      throw translateS3Error(error);
    }
  }

  readCorsRules(options: { signal?: AbortSignal } = {}): Promise<BucketCorsReading> {
    return readS3BucketCors(this.client, this.bucket, options.signal);
  }

  async put(request: PutObjectRequest, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    try {
      if (await this.#requests.put(request, options)) return;
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: request.key,
          Body: request.body,
          ContentLength: request.body.length,
          ContentType: request.contentType,
          CacheControl: request.cacheControl,
        }),
        { abortSignal: options.signal },
      );
    } catch (error) {
      throw translateS3Error(error);
    }
  }

  close(): void {
    // The client's agents and the undici pool hold up to 256 keep-alive sockets each; a replaced provider must let them go.
    this.client.destroy();
    // Waits for requests in flight (a replaced provider's last reads finish); never rejects in practice.
    this.#requests.close().catch(() => undefined);
  }
}

/** The metadata fields GetObject and HeadObject answers share. */
function metadataOf(output: {
  ContentType?: string;
  ContentLength?: number;
  ETag?: string;
  LastModified?: Date;
}): ObjectMetadata {
  return {
    contentType: output.ContentType,
    contentLength: output.ContentLength ?? 0,
    etag: output.ETag,
    lastModified: output.LastModified,
  };
}

/** S3 error codes that mean darkroom's own credentials were refused: every read fails, so "retry later". */
const refusedCredentials = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'TokenRefreshRequired', 'InvalidToken']);

/**
 * Maps an SDK failure to a storage fault (see `StorageFault`):
 * - `NoSuchKey`, or a 404 without a code (a HEAD has no error body) → `not_found`;
 * - `NoSuchBucket` → `bucket_missing` (GET only: a HEAD of a missing bucket is a bare 404);
 * - `AccessDenied`, or a 403 without a code → `access_denied`: what S3 answers for a missing key
 *   when the role lacks `s3:ListBucket`;
 * - refused credentials, network failures, 5xx, throttling → `unavailable`.
 */
export function translateS3Error(error: unknown): DarkroomError {
  const name = error instanceof Error ? error.name : '';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return storageError(error, s3FaultOf(name, status));
}

function s3FaultOf(name: string, status: number | undefined): StorageFault {
  if (name === 'NoSuchBucket') return 'bucket_missing';
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return 'not_found';
  if (refusedCredentials.has(name)) return 'unavailable';
  if (name === 'AccessDenied' || status === 403) return 'access_denied';
  return 'unavailable';
}
