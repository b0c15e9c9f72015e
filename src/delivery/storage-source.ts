/**
 * The storage bucket as an image source, through the provider contract. Validators and ranges
 * are decided from the object's metadata before any body is fetched, so a 304 or a 416 costs one
 * HEAD and no bytes; a plain GET costs one GET.
 */
import { finished } from 'node:stream/promises';
import { isDarkroomError } from '../core/errors.js';
import { StorageFailure, type ObjectMetadata, type ObjectReadStream, type StorageProvider } from '../storage/storage-provider.js';
import { startDeadline } from './deadline.js';
import { contentRange, isNotModified, rangeStillValid, resolveRange } from './http-semantics.js';
import type { ImageSource, SourceReply, SourceRequest } from './image-source.js';
import { peekBytes } from './peek.js';

/** Default time storage has to answer with headers before the read fails with 503, in ms. */
const defaultStorageTimeoutMs = 10_000;

export class StorageSource implements ImageSource {
  /**
   * @param provider the app's storage provider
   * @param timeoutMs time to response headers for each storage call, in ms (default 10 000): with
   *   the CDN down as well, the read answers 503 within this bound rather than hanging
   */
  constructor(
    private readonly provider: StorageProvider,
    private readonly timeoutMs: number = defaultStorageTimeoutMs,
  ) {}

  async read(request: SourceRequest): Promise<SourceReply> {
    const { preconditions, range } = request;
    const needsMetadata =
      request.method === 'HEAD' || range !== undefined || preconditions.ifNoneMatch !== undefined || preconditions.ifModifiedSince !== undefined;
    if (!needsMetadata) return fullReply(await this.#open(request.objectKey, request.signal));

    const metadata = await this.#head(request.objectKey, request.signal);
    if (isNotModified(preconditions, metadata)) return { ...metadataReply(304, metadata), contentLength: undefined };
    if (request.method === 'HEAD') return metadataReply(200, metadata);
    if (range === undefined || !rangeStillValid(preconditions, metadata)) {
      return fullReply(await this.#open(request.objectKey, request.signal));
    }
    const size = metadata.contentLength;
    const resolved = resolveRange(range, size);
    if (resolved === 'unsatisfiable') {
      return { ...metadataReply(416, metadata), contentLength: undefined, contentRange: contentRange(resolved, size) };
    }
    const object = await this.#open(request.objectKey, request.signal, resolved);
    return {
      ...metadataReply(206, metadata),
      contentLength: resolved.end - resolved.start + 1,
      contentRange: contentRange(resolved, size),
      bodyStart: resolved.start,
      body: object.body,
    };
  }

  /**
   * The object's first `length` bytes (fewer if it is shorter), for the signature check: one
   * ranged GET, bounded as a whole (headers and those bytes) by the storage deadline.
   */
  async readPrefix(objectKey: string, length: number, signal: AbortSignal): Promise<Buffer> {
    const deadline = startDeadline(this.timeoutMs, signal);
    try {
      const object = await this.provider.openRead(objectKey, { signal: deadline.signal, range: { start: 0, end: length - 1 } });
      try {
        return await peekBytes(object.body, length);
      } finally {
        object.body.destroy();
      }
    } catch (error) {
      throw timeoutAware(error, deadline.timedOut);
    } finally {
      deadline.release();
    }
  }

  async #head(objectKey: string, signal: AbortSignal): Promise<ObjectMetadata> {
    const deadline = startDeadline(this.timeoutMs, signal);
    try {
      return await this.provider.head(objectKey, { signal: deadline.signal });
    } catch (error) {
      throw timeoutAware(error, deadline.timedOut);
    } finally {
      deadline.release();
    }
  }

  async #open(objectKey: string, signal: AbortSignal, range?: { start: number; end: number }): Promise<ObjectReadStream> {
    const deadline = startDeadline(this.timeoutMs, signal);
    let object: ObjectReadStream;
    try {
      object = await this.provider.openRead(objectKey, { signal: deadline.signal, ...(range ? { range } : {}) });
    } catch (error) {
      deadline.release();
      throw timeoutAware(error, deadline.timedOut);
    }
    // The body stays tied to the client (its abort cancels the download) until it is done.
    deadline.disarm();
    finished(object.body).then(deadline.release, deadline.release);
    return object;
  }
}

function timeoutAware(error: unknown, timedOut: boolean): unknown {
  if (timedOut) return new StorageFailure('timeout', { cause: error, message: 'The storage service did not answer in time; retry later.' });
  return isDarkroomError(error) ? error : new StorageFailure('unavailable', { cause: error });
}

function metadataReply(status: SourceReply['status'], metadata: ObjectMetadata): SourceReply {
  return {
    status,
    contentType: metadata.contentType,
    contentLength: metadata.contentLength,
    etag: metadata.etag,
    lastModified: metadata.lastModified,
    contentRange: undefined,
    bodyStart: 0,
    body: undefined,
  };
}

function fullReply(object: ObjectReadStream): SourceReply {
  return { ...metadataReply(200, object), body: object.body };
}
