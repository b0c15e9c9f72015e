/**
 * Delivery: one call that reads an object (CDN first, storage fallback, through `ImageReader`) and
 * returns a checked reply, which the HTTP route only has to translate. Every rule about what may
 * be served lives here, once:
 * - the stored type must be the image type of the key's extension, and that extension allowed;
 * - a GET's first bytes must be that format's signature; when the body does not start at byte 0
 *   (a range further in), bytes 0–11 are read from where the reply came (the CDN behind its
 *   breaker, storage when that fails), never from the CDN outside the breaker;
 * - with a size limit (`maxBytes`), an object larger than it is refused.
 *
 * The object is named by its full storage key and the rules by value, so a later reader of other
 * objects (variants, stored under another prefix and read CDN first like originals) calls the same
 * function with its own key and rules.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { DarkroomApp } from '../config/darkroom-app.js';
import { darkroomError, isDarkroomError } from '../core/errors.js';
import { signaturePrefixLength } from '../core/image-signatures.js';
import type { ImageType } from '../core/image-types.js';
import type { DarkroomMetrics } from '../metrics/metrics.js';
import { StorageFailure } from '../storage/storage-provider.js';
import { parseContentRange, type Preconditions, type RangeSpec } from './http-semantics.js';
import { checkSignature, checkStoredType, type RefusalReason } from './image-policy.js';
import type { ImageReader, ReadSource } from './image-reader.js';
import type { SourceReply } from './image-source.js';
import { peekBytes } from './peek.js';

/** What an object must be to be served. */
export interface DeliveryRules {
  /** Extensions (of the key's last segment) that may be served. */
  readonly allowedExtensions: readonly string[];
  /** Largest object served, in bytes; undefined means no check (storage enforced the limit on upload). */
  readonly maxBytes: number | undefined;
}

/**
 * The rules for an app's originals. The size is checked only where storage did not enforce it on
 * upload: S3 apps with `upload.requireSize: false`, whose URLs for size-less requests bind no length.
 */
export function originalRules(app: DarkroomApp): DeliveryRules {
  const { upload, storage } = app.spec;
  return { allowedExtensions: upload.allowedExtensions, maxBytes: storage.provider === 's3' && !upload.requireSize ? upload.maxBytes : undefined };
}

/** One read, as the client asked it. */
export interface DeliveryRequest {
  readonly method: 'GET' | 'HEAD';
  /** Full object key in the bucket (prefix included). */
  readonly objectKey: string;
  readonly rules: DeliveryRules;
  readonly range: RangeSpec | undefined;
  readonly preconditions: Preconditions;
  /** Aborted when the client goes away: every upstream request goes with it. */
  readonly signal: AbortSignal;
  /** Where refusals and storage faults are logged (the request's logger). */
  readonly log: Logger;
}

/** Validators of the object. */
interface Validators {
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
}

/** A checked reply: what to answer, and nothing the route has to decide. */
export type CheckedReply =
  | ({ readonly kind: 'not_modified'; readonly source: ReadSource } & Validators)
  | { readonly kind: 'range_not_satisfiable'; readonly source: ReadSource; readonly contentRange: string | undefined }
  | ({
      readonly kind: 'image';
      readonly source: ReadSource;
      readonly status: 200 | 206;
      /** The canonical type of the image (never the stored string). */
      readonly contentType: string;
      readonly contentLength: number | undefined;
      readonly contentRange: string | undefined;
      /** The bytes for a GET (the consumer must stream or destroy them); undefined for a HEAD. */
      readonly body: Readable | undefined;
    } & Validators);

/** Progress of one delivery, for the caller's metrics when it rejects. */
export interface DeliveryProgress {
  source: ReadSource;
}

export class ImageDelivery {
  constructor(
    private readonly reader: ImageReader,
    private readonly metrics: DarkroomMetrics,
  ) {}

  /**
   * Reads and checks. Rejects with IMAGE_REFUSED (counted and logged here), IMAGE_NOT_FOUND,
   * STORAGE_UNAVAILABLE or APP_CONFIG_INVALID, or with the abort reason when the client left.
   */
  async deliver(app: DarkroomApp, request: DeliveryRequest, progress: DeliveryProgress = { source: 'storage' }): Promise<CheckedReply> {
    const { reply, source } = await this.reader.read(
      app,
      { method: request.method, objectKey: request.objectKey, range: request.range, preconditions: request.preconditions, signal: request.signal },
      progress,
      request.log,
    );
    if (reply.status === 304) return { kind: 'not_modified', source, etag: reply.etag, lastModified: reply.lastModified };
    // A 416 sends no bytes, and the CDN's 416 carries its own error page's type: no type check.
    if (reply.status === 416) return { kind: 'range_not_satisfiable', source, contentRange: reply.contentRange };

    const refuse = (reason: RefusalReason): never => {
      reply.body?.destroy();
      this.metrics.imageReadsRefused.inc({ app: app.metadata.name, reason });
      // The stored type is bounded in length so that a hostile upload cannot flood the log line.
      request.log.warn(
        { app: app.metadata.name, reason, source, storedType: reply.contentType?.slice(0, 100) },
        'refused to serve a stored object that is not an allowed image',
      );
      throw darkroomError('IMAGE_REFUSED');
    };

    const typeCheck = checkStoredType(lastSegment(request.objectKey), reply.contentType, request.rules.allowedExtensions);
    if (!typeCheck.ok) return refuse(typeCheck.reason);
    if (request.rules.maxBytes !== undefined && !(await this.#withinSize(app, request, reply, request.rules.maxBytes))) return refuse('too_large');
    if (request.method === 'GET') {
      const signature = checkSignature(typeCheck.type, await this.#signaturePrefix(app, request, reply, source));
      if (!signature.ok) return refuse(signature.reason);
    }
    return image(reply, source, typeCheck.type, request.method);
  }

  /** Whether the object is at most `maxBytes`: from the reply, or (size unknown) from storage. */
  async #withinSize(app: DarkroomApp, request: DeliveryRequest, reply: SourceReply, maxBytes: number): Promise<boolean> {
    const size = objectSize(reply);
    if (size !== undefined) return size <= maxBytes;
    // A CDN answer without a length (chunked, `bytes a-b/*`): ask storage, bounded like any read.
    const probe = await this.#guard(reply, () =>
      this.reader.read(app, { method: 'HEAD', objectKey: request.objectKey, range: undefined, preconditions: {}, signal: request.signal }, { source: 'storage' }, request.log),
    );
    return (objectSize(probe.reply) ?? Number.POSITIVE_INFINITY) <= maxBytes;
  }

  /**
   * The object's first bytes. A body that starts at 0 and is long enough carries them (peeked and
   * put back, so it still streams whole); otherwise (a range further in) bytes 0–11 are read from
   * where the reply came: the CDN behind its breaker, storage when that fails.
   */
  async #signaturePrefix(app: DarkroomApp, request: DeliveryRequest, reply: SourceReply, source: ReadSource): Promise<Buffer> {
    const body = reply.body;
    const carriesPrefix = body !== undefined && (reply.status === 200 || (reply.bodyStart === 0 && (reply.contentLength ?? 0) >= signaturePrefixLength));
    if (carriesPrefix) return this.#guard(reply, () => peekBytes(body, signaturePrefixLength));
    return this.#guard(reply, () => this.reader.readPrefix(app, request.objectKey, signaturePrefixLength, source, request.signal, request.log));
  }

  /** Runs a step that may fail after the reply arrived: the reply's body is dropped with it. */
  async #guard<T>(reply: SourceReply, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      reply.body?.destroy();
      // (When the client left, the caller sees its signal aborted and answers no one.)
      throw isDarkroomError(error) ? error : new StorageFailure('unavailable', { cause: error });
    }
  }
}

function image(reply: SourceReply, source: ReadSource, type: ImageType, method: 'GET' | 'HEAD'): CheckedReply {
  if (method === 'HEAD') reply.body?.destroy();
  return {
    kind: 'image',
    source,
    status: reply.status === 206 ? 206 : 200,
    contentType: type.contentType,
    contentLength: reply.contentLength,
    contentRange: reply.contentRange,
    etag: reply.etag,
    lastModified: reply.lastModified,
    body: method === 'GET' ? reply.body : undefined,
  };
}

/** The whole object's size: a 200's length, or the total in a 206's Content-Range. */
function objectSize(reply: SourceReply): number | undefined {
  if (reply.status === 206) return parseContentRange(reply.contentRange)?.size;
  return reply.contentLength;
}

function lastSegment(objectKey: string): string {
  return objectKey.slice(objectKey.lastIndexOf('/') + 1);
}
