/**
 * Google Cloud Storage behind the storage contract, on `@google-cloud/storage`.
 *
 * Uploads: a V4 signed PUT on the XML API that binds the key, `Content-Type`,
 * `x-goog-content-length-range: 0,<maxBytes>` and `x-goog-if-generation-match: 0`, so GCS itself
 * refuses another type, a larger body, or a second upload over the first. The range carries the app's limit rather than the client's declared size: the limit is
 * the policy, and a client that only knows its final size after encoding can still upload.
 * Reads: JSON API media download (with `Range` when asked) and metadata, through
 * `GcsObjectReader`, so that every read takes the caller's signal (deadline, client gone).
 * Failures are translated here, never above.
 */
import type { Bucket, FileMetadata } from '@google-cloud/storage';
import type { Readable } from 'node:stream';
import { GcsStatusError, translateGcsError, withDeadline } from './gcs-errors.js';
import { readJson, type GcsAnswer, type GcsObjectReader } from './gcs-object-reader.js';
import type { BucketCorsReading } from '../core/bucket-cors.js';
import { readGcsBucketCors } from './gcs-bucket-cors.js';
import {
  rangeHeaderOf,
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

/** Longest wait for one `put`, in ms. */
const putTimeoutMs = 15_000;

export class GcsStorageProvider implements StorageProvider {
  readonly #signTimeoutMs: number;
  readonly #now: () => number;

  /**
   * @param bucket the library's bucket, for signing
   * @param reader the JSON API reader for the same bucket (reads take a signal there)
   */
  constructor(
    private readonly bucket: Bucket,
    private readonly reader: GcsObjectReader,
    private readonly options: GcsProviderOptions = {},
  ) {
    this.#signTimeoutMs = options.signTimeoutMs ?? defaultSignTimeoutMs;
    this.#now = options.now ?? Date.now;
  }

  async presignUpload(request: PresignUploadRequest): Promise<PresignedUpload> {
    const { signedAt, expiresAt } = signingWindow(this.#now(), request.expiresInSeconds);
    // Generation 0 means "no live object": a second PUT to the key fails with 412, never overwrites.
    const uploadHeaders = { 'x-goog-content-length-range': `0,${request.maxBytes}`, 'x-goog-if-generation-match': '0' };
    try {
      const [url] = await withDeadline(
        this.bucket.file(request.key).getSignedUrl({
          version: 'v4',
          action: 'write',
          accessibleAt: signedAt,
          expires: expiresAt,
          contentType: request.contentType,
          extensionHeaders: uploadHeaders,
          ...(this.options.signingEndpoint ? { signingEndpoint: this.options.signingEndpoint } : {}),
        }),
        this.#signTimeoutMs,
        'Signing a GCS upload URL',
      );
      return {
        url,
        method: 'PUT',
        headers: { 'Content-Type': request.contentType, ...uploadHeaders },
        expiresAt,
      };
    } catch (error) {
      throw translateGcsError(error);
    }
  }

  async openRead(key: string, options: ReadOptions = {}): Promise<ObjectReadStream> {
    options.signal?.throwIfAborted();
    // A range becomes the download's `Range` header; GCS answers 206 with the range's length.
    const range = rangeHeaderOf(options.range);
    const answer = await this.#request(key, { media: true, ...(range ? { range } : {}), signal: options.signal });
    const { headers, body } = answer;
    abortWith(body, options.signal);
    return {
      body,
      contentType: header(headers, 'content-type'),
      contentLength: Number(header(headers, 'content-length') ?? 0),
      etag: etagOf(header(headers, 'x-goog-generation')),
      lastModified: dateOf(header(headers, 'last-modified')),
    };
  }

  async head(key: string, options: ReadOptions = {}): Promise<ObjectMetadata> {
    options.signal?.throwIfAborted();
    const answer = await this.#request(key, { media: false, signal: options.signal });
    try {
      return metadataOf((await readJson(answer.body)) as FileMetadata);
    } catch (error) {
      answer.body.destroy();
      throw translateGcsError(error);
    }
  }

  readCorsRules(): Promise<BucketCorsReading> {
    return readGcsBucketCors(this.bucket, this.#signTimeoutMs);
  }

  async put(request: PutObjectRequest, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted();
    try {
      // One request (no resumable session): variants are small, and a failed write is simply made again.
      // The library takes no signal, so the write is bounded by a deadline instead.
      await withDeadline(
        this.bucket.file(request.key).save(request.body, {
          resumable: false,
          // The library checks the written object's hash against the bytes sent; MD5 is on every
          // non-composite object GCS answers with.
          validation: 'md5',
          contentType: request.contentType,
          metadata: { contentType: request.contentType, cacheControl: request.cacheControl },
        }),
        putTimeoutMs,
        'Storing an object',
      );
    } catch (error) {
      throw translateGcsError(error);
    }
  }

  close(): void {
    this.reader.close();
  }

  /** One JSON API request; an error status becomes a storage failure, its body read for the reason. */
  async #request(key: string, init: { media: boolean; range?: string; signal: AbortSignal | undefined }): Promise<GcsAnswer> {
    let answer: GcsAnswer;
    try {
      answer = await this.reader.request(key, init);
    } catch (error) {
      throw translateGcsError(error);
    }
    if (answer.status >= 200 && answer.status < 300) return answer;
    let detail: unknown;
    try {
      detail = await readJson(answer.body);
    } catch {
      answer.body.destroy();
    }
    throw translateGcsError(new GcsStatusError(answer.status, detail));
  }
}

/** A reader that goes away mid-body stops the download too. */
function abortWith(body: Readable, signal: AbortSignal | undefined): void {
  if (!signal) return;
  const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
}

function header(headers: GcsAnswer['headers'], name: string): string | undefined {
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
