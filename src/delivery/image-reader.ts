/**
 * The read path's sources: CDN first through the app's breaker, storage when the app has no CDN or
 * the CDN fails, with every fallback counted by reason. An open circuit goes to storage at once,
 * without touching the CDN. Storage failures reach the caller, each counted by its fault
 * (`darkroom_storage_errors_total`) and, when it needs an operator (refused identity, missing
 * bucket), logged. The checks on what was read live one level up, in `ImageDelivery`.
 */
import type { Logger } from 'pino';
import type { DarkroomApp } from '../config/darkroom-app.js';
import type { DarkroomMetrics } from '../metrics/metrics.js';
import { storageFaultOf } from '../storage/storage-provider.js';
import type { StorageProviders } from '../storage/storage-providers.js';
import { isBreakerTimeout, isOpenCircuitError } from './cdn-breaker.js';
import type { CdnBreakers, CdnCall } from './cdn-breakers.js';
import { CdnFailure, type FallbackReason } from './cdn-source.js';
import type { SourceReply, SourceRequest } from './image-source.js';
import { peekBytes } from './peek.js';
import { StorageSource } from './storage-source.js';

/** Where a reply came from. */
export type ReadSource = 'cdn' | 'storage';

/** A reply and where it came from. */
export interface ReadResult {
  readonly source: ReadSource;
  readonly reply: SourceReply;
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
   * two was being asked (for metrics). `log` gets the storage faults an operator must see.
   */
  async read(app: DarkroomApp, request: SourceRequest, progress: { source: ReadSource } = { source: 'storage' }, log?: Logger): Promise<ReadResult> {
    const appName = app.metadata.name;
    const cdn = this.deps.cdns?.forApp(app);
    if (cdn?.breaker.opened) {
      // Open: straight to storage. Checked here rather than left to fire(), whose rejection builds
      // an Error with a stack trace on every read while the CDN is down.
      this.deps.metrics.cdnFallbacks.inc({ app: appName, reason: 'circuit_open' });
    } else if (cdn) {
      progress.source = 'cdn';
      const call: CdnCall = { abandoned: false };
      try {
        const reply = await cdn.breaker.fire(request, call);
        return { source: 'cdn', reply };
      } catch (error) {
        // A reply still on its way (opossum's backstop timeout fired first) is dropped on arrival.
        call.abandoned = true;
        // The client left: nothing to fall back for.
        if (request.signal.aborted) throw error;
        this.deps.metrics.cdnFallbacks.inc({ app: appName, reason: fallbackReasonOf(error) });
      }
    }
    progress.source = 'storage';
    try {
      return { source: 'storage', reply: await new StorageSource(this.deps.storage.forApp(app)).read(request) };
    } catch (error) {
      if (!request.signal.aborted) this.#meterStorageFault(appName, error, log);
      throw error;
    }
  }

  /**
   * The object's first `length` bytes, for the signature check of a reply whose body does not
   * carry them (a range further in), from where the reply came: the CDN through its breaker, the
   * whole prefix within `cdn.timeoutMs`, and storage when that fails (a counted fallback).
   */
  async readPrefix(app: DarkroomApp, objectKey: string, length: number, from: ReadSource, signal: AbortSignal, log?: Logger): Promise<Buffer> {
    const appName = app.metadata.name;
    const cdn = from === 'cdn' ? this.deps.cdns?.forApp(app) : undefined;
    if (cdn?.breaker.opened) {
      this.deps.metrics.cdnFallbacks.inc({ app: appName, reason: 'circuit_open' });
    } else if (cdn) {
      const call: CdnCall = { abandoned: false };
      try {
        const reply = await cdn.breaker.fire({ method: 'GET', objectKey, range: { kind: 'from', first: 0, last: length - 1 }, preconditions: {}, signal }, call);
        return await peekWithin(reply, length, cdn.settings.timeoutMs);
      } catch (error) {
        call.abandoned = true;
        if (signal.aborted) throw error;
        this.deps.metrics.cdnFallbacks.inc({ app: appName, reason: fallbackReasonOf(error) });
      }
    }
    try {
      return await new StorageSource(this.deps.storage.forApp(app)).readPrefix(objectKey, length, signal);
    } catch (error) {
      if (!signal.aborted) this.#meterStorageFault(appName, error, log);
      throw error;
    }
  }

  #meterStorageFault(app: string, error: unknown, log: Logger | undefined): void {
    const fault = storageFaultOf(error);
    if (fault === undefined || fault === 'not_found') return;
    this.deps.metrics.storageErrors.inc({ app, reason: fault });
    if (fault === 'access_denied' || fault === 'bucket_missing') {
      // The client was told "no such image" or "invalid configuration"; the operator gets the why.
      log?.warn(
        { app, reason: fault, err: error },
        fault === 'access_denied'
          ? 'storage refused darkroom access to an object (a missing key answers 403 without s3:ListBucket); answered 404'
          : 'the app\'s storage bucket does not exist; answered 503 APP_CONFIG_INVALID',
      );
    }
  }
}

/** The first `length` bytes of a CDN reply's body within `timeoutMs`; the body is always released. */
async function peekWithin(reply: SourceReply, length: number, timeoutMs: number): Promise<Buffer> {
  const body = reply.body;
  if (!body) throw new CdnFailure('error', { status: reply.status });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      peekBytes(body, length),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new CdnFailure('timeout')), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    body.destroy();
  }
}

/** The fallback reason for an error from `breaker.fire()`. */
export function fallbackReasonOf(error: unknown): FallbackReason {
  if (isOpenCircuitError(error)) return 'circuit_open';
  if (isBreakerTimeout(error)) return 'timeout';
  if (error instanceof CdnFailure) return error.reason;
  return 'error';
}
