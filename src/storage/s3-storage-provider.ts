/**
 * S3 (and S3-compatible stores) behind the storage contract, on the AWS SDK v3.
 *
 * Presigned PUTs sign `content-type` and, when a length is given, `content-length` as well:
 * `getSignedUrl` signs only `host` unless told otherwise, which would let a client upload any
 * type or size under the URL. URLs come from `S3Presigner`, which produces `getSignedUrl`'s exact
 * URLs for a fraction of the CPU. SDK errors are translated here, never above.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { darkroomError, type DarkroomError } from '../core/errors.js';
import {
  signingWindow,
  storageError,
  type ObjectMetadata,
  type ObjectReadStream,
  type PresignedUpload,
  type PresignUploadRequest,
  type PutObjectRequest,
  type ReadOptions,
  type StorageProvider,
} from './storage-provider.js';
import { S3Presigner } from './s3-presigner.js';

export class S3StorageProvider implements StorageProvider {
  readonly #presigner: S3Presigner;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {
    this.#presigner = new S3Presigner(client, bucket);
  }

  async presignUpload(request: PresignUploadRequest): Promise<PresignedUpload> {
    const headers: Record<string, string> = { 'Content-Type': request.contentType };
    if (request.contentLength !== undefined) headers['Content-Length'] = String(request.contentLength);
    const { signedAt, expiresAt } = signingWindow(Date.now(), request.expiresInSeconds);
    try {
      const url = await this.#presigner.presignPut({
        key: request.key,
        contentType: request.contentType,
        contentLength: request.contentLength,
        expiresInSeconds: request.expiresInSeconds,
        signingDate: signedAt,
      });
      return { url, method: 'PUT', headers, expiresAt };
    } catch (error) {
      throw translateS3Error(error);
    }
  }

  async openRead(key: string, options: ReadOptions = {}): Promise<ObjectReadStream> {
    try {
      const range = options.range ? `bytes=${options.range.start}-${options.range.end ?? ''}` : undefined;
      const output = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }), {
        abortSignal: options.signal,
      });
      if (!output.Body) throw darkroomError('STORAGE_UNAVAILABLE', { cause: new Error('GetObject returned no body') });
      return { body: output.Body as Readable, ...metadataOf(output) };
    } catch (error) {
      throw translateS3Error(error);
    }
  }

  async head(key: string, options: ReadOptions = {}): Promise<ObjectMetadata> {
    try {
      const output = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: options.signal,
      });
      return metadataOf(output);
    } catch (error) {
      throw translateS3Error(error);
    }
  }

  async put(request: PutObjectRequest, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    try {
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

/** Maps an SDK failure to the catalogue: a missing object is IMAGE_NOT_FOUND, the rest is unavailability. */
export function translateS3Error(error: unknown): DarkroomError {
  const name = error instanceof Error ? error.name : '';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return storageError(error, name === 'NoSuchKey' || name === 'NotFound' || status === 404);
}
