/**
 * Google Cloud Storage behind the storage contract, on `@google-cloud/storage`.
 *
 * Uploads: a V4 signed PUT on the XML API that binds the key, `Content-Type` and
 * `x-goog-content-length-range: 0,<maxBytes>`, so GCS itself refuses another type or a larger
 * body. The range carries the app's limit rather than the client's declared size: the limit is
 * the policy, and a client that only knows its final size after encoding can still upload.
 * Reads: JSON API media download (with `Range` when asked) and metadata. Library errors are
 * translated here, never above.
 */
import type { Bucket, FileMetadata } from '@google-cloud/storage';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { darkroomError } from '../core/errors.js';
import { translateGcsError, withDeadline } from './gcs-errors.js';
import {
  signingWindow,
  type ObjectMetadata,
  type ObjectReadStream,
  type PresignedUpload,
  type PresignUploadRequest,
  type PutObjectRequest,
  type ReadOptions,
  type StorageProvider,
} from './storage-provider.js';

/** How the provider signs. */
export interface GcsProviderOptions {
  /**
   * IAM Credentials endpoint for `signBlob`, used only when the identity has no private key.
   * Default: Google's (`https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/`).
   */
  readonly signingEndpoint?: string | undefined;
  /** Longest wait for a signature (a `signBlob` round trip), in ms. Default 5 000. */
  readonly signTimeoutMs?: number;
  /** Clock, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
}

const defaultSignTimeoutMs = 5_000;

export class GcsStorageProvider implements StorageProvider {
  readonly #signTimeoutMs: number;
  readonly #now: () => number;

  constructor(
    private readonly bucket: Bucket,
    private readonly options: GcsProviderOptions = {},
  ) {
    this.#signTimeoutMs = options.signTimeoutMs ?? defaultSignTimeoutMs;
    this.#now = options.now ?? Date.now;
  }

  async presignUpload(request: PresignUploadRequest): Promise<PresignedUpload> {
    const { signedAt, expiresAt } = signingWindow(this.#now(), request.expiresInSeconds);
    const lengthRange = `0,${request.maxBytes}`;
    try {
      const [url] = await withDeadline(
        this.bucket.file(request.key).getSignedUrl({
          version: 'v4',
          action: 'write',
          accessibleAt: signedAt,
          expires: expiresAt,
          contentType: request.contentType,
          extensionHeaders: { 'x-goog-content-length-range': lengthRange },
          ...(this.options.signingEndpoint ? { signingEndpoint: this.options.signingEndpoint } : {}),
        }),
        this.#signTimeoutMs,
        'Signing a GCS upload URL',
      );
      return {
        url,
        method: 'PUT',
        headers: { 'Content-Type': request.contentType, 'x-goog-content-length-range': lengthRange },
        expiresAt,
      };
    } catch (error) {
      throw translateGcsError(error);
    }
  }

  async openRead(key: string, options: ReadOptions = {}): Promise<ObjectReadStream> {
    options.signal?.throwIfAborted();
    // No integrity validation: it needs the whole body before it can fail, and a range cannot be validated.
    // A range becomes the download's `Range` header; GCS answers 206 with the range's length.
    const range = options.range ? { start: options.range.start, ...(options.range.end === undefined ? {} : { end: options.range.end }) } : {};
    const body = this.bucket.file(key).createReadStream({ validation: false, decompress: false, ...range });
    try {
      const headers = await responseHeaders(body, options.signal);
      abortWith(body, options.signal);
      return {
        body,
        contentType: header(headers, 'content-type'),
        contentLength: Number(header(headers, 'content-length') ?? 0),
        etag: etagOf(header(headers, 'x-goog-generation')),
        lastModified: dateOf(header(headers, 'last-modified')),
      };
    } catch (error) {
      body.destroy();
      throw translateGcsError(error);
    }
  }

  async head(key: string, options: ReadOptions = {}): Promise<ObjectMetadata> {
    options.signal?.throwIfAborted();
    try {
      const [metadata] = await this.bucket.file(key).getMetadata();
      return metadataOf(metadata);
    } catch (error) {
      throw translateGcsError(error);
    }
  }

  async put(request: PutObjectRequest, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted();
    try {
      // One request (no resumable session): variants are small, and a failed write is simply made again.
      await this.bucket.file(request.key).save(request.body, {
        resumable: false,
        // The library checks the written object's hash against the bytes sent; MD5 is on every
        // non-composite object GCS answers with.
        validation: 'md5',
        contentType: request.contentType,
        metadata: { contentType: request.contentType, cacheControl: request.cacheControl },
      });
    } catch (error) {
      throw translateGcsError(error);
    }
  }
}

/** The download stream sends its request on first read; waits for the response headers or the error. */
function responseHeaders(body: Readable, signal: AbortSignal | undefined): Promise<IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const onAbort = () => finish(() => reject(darkroomError('STORAGE_UNAVAILABLE', { cause: signal?.reason })));
    const finish = (settle: () => void) => {
      body.off('response', onResponse);
      body.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onResponse = (response: { statusCode?: number; headers?: IncomingHttpHeaders }) => {
      // Error statuses arrive as an 'error' event once the library has read the error body.
      const status = response.statusCode ?? 0;
      if (status >= 200 && status < 300) finish(() => resolve(response.headers ?? {}));
    };
    const onError = (error: Error) => finish(() => reject(error));
    body.on('response', onResponse);
    body.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    body.read(0);
  });
}

/** A reader that goes away mid-body stops the download too. */
function abortWith(body: Readable, signal: AbortSignal | undefined): void {
  if (!signal) return;
  const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function metadataOf(metadata: FileMetadata): ObjectMetadata {
  return {
    contentType: metadata.contentType,
    contentLength: Number(metadata.size ?? 0),
    etag: etagOf(metadata.generation === undefined ? undefined : String(metadata.generation)),
    lastModified: dateOf(metadata.updated),
  };
}

/**
 * The object's generation as a strong ETag: it changes whenever the object's bytes are replaced,
 * and both the metadata (`generation`) and the media download (`x-goog-generation`) carry it, so
 * `head` and `openRead` agree. (The JSON API's own `etag` also changes with metadata edits.)
 */
function etagOf(generation: string | undefined): string | undefined {
  return generation ? `"${generation}"` : undefined;
}

function dateOf(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
