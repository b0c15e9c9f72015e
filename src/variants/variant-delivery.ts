/**
 * Delivery of a variant: the stored variant object read through the same delivery call as an
 * original (CDN first behind the app's breaker, storage on fallback, type and signature checked,
 * the same read metrics), and on a miss the variant made (the original read the same way, then
 * transformed and stored by the maker). Returns what to answer; the HTTP route only translates.
 */
import type { Logger } from 'pino';
import type { DarkroomApp, VariantsSpec } from '../config/darkroom-app.js';
import { darkroomError, isDarkroomError } from '../core/errors.js';
import { storageKey } from '../core/keys.js';
import type { Preconditions, RangeSpec } from '../delivery/http-semantics.js';
import { originalRules, type CheckedReply, type DeliveryProgress, type DeliveryRules, type ImageDelivery } from '../delivery/image-delivery.js';
import type { StorageProviders } from '../storage/storage-providers.js';
import type { GateOutcome } from './transform-gate.js';
import { readBounded } from './read-bounded.js';
import type { MadeVariant, VariantMaker } from './variant-maker.js';
import type { VariantPlan } from './variant-plan.js';

/** Variant objects are written by darkroom in these formats only; their key's extension says which. */
export const variantRules: DeliveryRules = { allowedExtensions: ['jpeg', 'png', 'gif', 'webp', 'avif'], maxBytes: undefined };

/** Largest original buffered for one transform, in bytes (64 MiB); larger ones are IMAGE_NOT_TRANSFORMABLE. */
export const maxTransformInputBytes = 64 * 1024 * 1024;
/** Longest a miss may spend reading the original, in ms: the work is shared, so no client's signal bounds it. */
const originalReadTimeoutMs = 30_000;
/** Longest a made variant's store may take, in ms; after it the variant is served unstored. */
const storeTimeoutMs = 15_000;

/** Keys are unique and variants derived from immutable originals: any cache may keep them for a year. */
export const immutableCacheControl = 'public, max-age=31536000, immutable';

/** One variant read, as the client asked it. */
export interface VariantRequest {
  readonly method: 'GET' | 'HEAD';
  /** The original's public key (`{id}-{name}`). */
  readonly originalKey: string;
  readonly plan: VariantPlan;
  readonly range: RangeSpec | undefined;
  readonly preconditions: Preconditions;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** What to answer: the stored variant as delivery checked it, or the bytes made on this request. */
export type VariantReply =
  | { readonly kind: 'stored'; readonly reply: CheckedReply }
  | { readonly kind: 'made'; readonly made: MadeVariant; readonly outcome: GateOutcome };

export class VariantDelivery {
  constructor(
    private readonly delivery: ImageDelivery,
    private readonly storage: StorageProviders,
    private readonly maker: VariantMaker,
  ) {}

  /**
   * Rejects like a read (IMAGE_NOT_FOUND for a missing original, IMAGE_REFUSED, STORAGE_UNAVAILABLE,
   * the abort reason), or with IMAGE_NOT_TRANSFORMABLE / TRANSFORM_BUSY from the maker.
   */
  async deliver(app: DarkroomApp, variants: VariantsSpec, request: VariantRequest, progress: DeliveryProgress): Promise<VariantReply> {
    const { plan, log } = request;
    try {
      const reply = await this.delivery.deliver(
        app,
        { method: request.method, objectKey: plan.objectKey, rules: variantRules, range: request.range, preconditions: request.preconditions, signal: request.signal, log },
        progress,
      );
      return { kind: 'stored', reply };
    } catch (error) {
      if (!(isDarkroomError(error) && error.code === 'IMAGE_NOT_FOUND') || request.signal.aborted) throw error;
    }
    const { made, outcome } = await this.maker.make(
      app.metadata.name,
      variants.maxInputPixels,
      plan,
      {
        readOriginal: async () => {
          const reply = await this.delivery.deliver(app, {
            method: 'GET',
            objectKey: storageKey(app.spec.storage.prefix, request.originalKey),
            rules: originalRules(app),
            range: undefined,
            preconditions: {},
            signal: AbortSignal.timeout(originalReadTimeoutMs),
            log,
          });
          if (reply.kind !== 'image' || !reply.body) throw darkroomError('STORAGE_UNAVAILABLE', { cause: new Error(`original read answered ${reply.kind}`), retryAfterSeconds: 1 });
          try {
            return await readBounded(reply.body, maxTransformInputBytes, reply.status === 200 ? reply.contentLength : undefined);
          } catch (error) {
            // A body cut off or running past its length is a failed read of storage, like a refused connection.
            throw isDarkroomError(error) ? error : darkroomError('STORAGE_UNAVAILABLE', { cause: error, retryAfterSeconds: 1 });
          }
        },
        store: (variant) =>
          this.storage
            .forApp(app)
            .put({ key: plan.objectKey, body: variant.data, contentType: variant.contentType, cacheControl: immutableCacheControl }, { signal: AbortSignal.timeout(storeTimeoutMs) }),
      },
      log,
    );
    return { kind: 'made', made, outcome };
  }
}
