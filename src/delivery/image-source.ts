/**
 * What the read path asks of a place that holds images (the CDN, the storage bucket), and what
 * it gets back: a reply already shaped as an HTTP answer (200, 206, 304 or 416) with the
 * object's validators and, for a GET with a body, a stream of bytes.
 */
import type { Readable } from 'node:stream';
import type { Preconditions, RangeSpec } from './http-semantics.js';

/** One read, as the client asked it. */
export interface SourceRequest {
  readonly method: 'GET' | 'HEAD';
  /** Full object key in the bucket (prefix included). */
  readonly objectKey: string;
  /** A single range to send (GET only), or undefined for the whole object. */
  readonly range: RangeSpec | undefined;
  readonly preconditions: Preconditions;
  /** Aborted when the client goes away: the upstream request goes with it. */
  readonly signal: AbortSignal;
}

/** The answer of a source. */
export interface SourceReply {
  readonly status: 200 | 206 | 304 | 416;
  readonly contentType: string | undefined;
  /** Length of the body sent (the range's length for a 206); undefined when unknown. */
  readonly contentLength: number | undefined;
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
  /** `Content-Range` for a 206 or a 416. */
  readonly contentRange: string | undefined;
  /** Offset in the object of the body's first byte (0 for a 200). */
  readonly bodyStart: number;
  /** The bytes, for a GET answered 200 or 206; the consumer must read or destroy it. */
  readonly body: Readable | undefined;
}

/** A place images can be read from. */
export interface ImageSource {
  read(request: SourceRequest): Promise<SourceReply>;
}
