/**
 * The read path: CDN first through the app's breaker, storage when the app has no CDN or the CDN
 * fails, with every fallback counted by reason. An open circuit goes to storage at once, without
 * touching the CDN. Errors from storage (IMAGE_NOT_FOUND, STORAGE_UNAVAILABLE) reach the caller.
 */
import type { DarkroomApp } from '../config/darkroom-app.js';
import { signaturePrefixLength } from '../core/image-signatures.js';
import type { DarkroomMetrics } from '../metrics/metrics.js';
import type { StorageProviders } from '../storage/storage-providers.js';
import { isBreakerTimeout, isOpenCircuitError } from './cdn-breaker.js';
import type { CdnBreakers } from './cdn-breakers.js';
import { CdnFailure, type FallbackReason } from './cdn-source.js';
import type { ImageSource, SourceReply, SourceRequest } from './image-source.js';
import { peekBytes } from './peek.js';
import { StorageSource } from './storage-source.js';

/** Where a reply came from. */
export type ReadSource = 'cdn' | 'storage';

/** A reply, where it came from, and how to get the object's first bytes from the same place. */
export interface ReadResult {
  readonly source: ReadSource;
  readonly reply: SourceReply;
  /** The source that answered (for a signature check of a range that does not start at 0). */
  readonly from: ImageSource;
}

/** What the reader needs. */
export interface ImageReaderDeps {
  readonly storage: StorageProviders;
  readonly metrics: DarkroomMetrics;
  /** Apps' CDNs and breakers; absent means storage only (e.g. an embedding without CDNs). */
  readonly cdns?: CdnBreakers;
}

export class ImageReader {
  constructor(private readonly deps: ImageReaderDeps) {}

  /**
   * Reads through the CDN, then storage. `progress.source` tells, when this rejects, which of the
   * two was being asked (for metrics).
   */
  async read(app: DarkroomApp, request: SourceRequest, progress: { source: ReadSource } = { source: 'storage' }): Promise<ReadResult> {
    const appName = app.metadata.name;
    const cdn = this.deps.cdns?.forApp(app);
    if (cdn?.breaker.opened) {
      // Open: straight to storage. Checked here rather than left to fire(), whose rejection builds
      // an Error with a stack trace on every read while the CDN is down.
      this.deps.metrics.cdnFallbacks.inc({ app: appName, reason: 'circuit_open' });
    } else if (cdn) {
      progress.source = 'cdn';
      try {
        const reply = await cdn.breaker.fire(request);
        return { source: 'cdn', reply, from: cdn.source };
      } catch (error) {
        // The client left: nothing to fall back for.
        if (request.signal.aborted) throw error;
        this.deps.metrics.cdnFallbacks.inc({ app: appName, reason: fallbackReasonOf(error) });
      }
    }
    progress.source = 'storage';
    const storage = new StorageSource(this.deps.storage.forApp(app));
    return { source: 'storage', reply: await storage.read(request), from: storage };
  }
}

/**
 * The object's first bytes for the signature check of a GET answered 200 or 206. A body that
 * starts at 0 and is long enough carries them (peeked and put back, so the body still streams
 * whole); otherwise (a range further in) they are asked of the same source.
 */
export function signaturePrefix(result: ReadResult, objectKey: string, signal: AbortSignal): Promise<Buffer> {
  const { reply } = result;
  const carriesPrefix =
    reply.body !== undefined && (reply.status === 200 || (reply.bodyStart === 0 && (reply.contentLength ?? 0) >= signaturePrefixLength));
  return carriesPrefix ? peekBytes(reply.body, signaturePrefixLength) : result.from.readPrefix(objectKey, signaturePrefixLength, signal);
}

/** The fallback reason for an error from `breaker.fire()`. */
export function fallbackReasonOf(error: unknown): FallbackReason {
  if (isOpenCircuitError(error)) return 'circuit_open';
  if (isBreakerTimeout(error)) return 'timeout';
  if (error instanceof CdnFailure) return error.reason;
  return 'error';
}
