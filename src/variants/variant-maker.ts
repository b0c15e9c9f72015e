/**
 * Makes a missing variant: under the per-pod gate, reads the original (through the caller's
 * delivery call, so CDN first and checked like any read), transforms it, then stores the result
 * so that every later request, in any replica, reads it like an original. Concurrent requests
 * for the same variant share one run (single flight); the admission slot is held only while
 * reading and transforming, a core's slot only while transforming, neither while storing.
 *
 * A store that fails is logged and the made bytes are still served: the next request makes the
 * variant again, and a storage outage for writes never turns into failed reads.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { TransformSettings } from '../config/settings.js';
import type { DarkroomMetrics } from '../metrics/metrics.js';
import { releaseBuffer } from './read-bounded.js';
import { configureSharp } from './sharp-runtime.js';
import { TransformGate, type GateOutcome } from './transform-gate.js';
import { transformImage } from './transformer.js';
import type { VariantPlan } from './variant-plan.js';

/** A variant made on this request (or on the one it joined). */
export interface MadeVariant {
  readonly data: Buffer;
  readonly contentType: string;
  /** The MD5 of the bytes, quoted: the ETag S3 gives the stored object for a single PUT. */
  readonly etag: string;
}

/** The I/O one variant needs, supplied by the read path. */
export interface VariantIo {
  /** The original's bytes, read and checked like any read of it, in a buffer of their own: the maker frees it once transformed. */
  readOriginal(): Promise<Buffer>;
  /** Stores the made variant at the plan's object key. */
  store(made: MadeVariant): Promise<void>;
}

/** Fixed limits of every transform, from the process settings and the app. */
export interface MakerLimits {
  /** Most frames kept from an animated original. */
  readonly maxFrames: number;
  /** Deadline of the pixel work, in whole seconds. */
  readonly timeoutSeconds: number;
}

/** Most frames kept from an animated original (more are dropped): bounds the work of one GIF. */
export const maxAnimatedFrames = 100;
/** Seconds a client refused with TRANSFORM_BUSY is told to wait. */
const busyRetryAfterSeconds = 1;

/** The maker a process runs with: sharp configured, the gate sized and metered as the settings say. */
export function createVariantMaker(settings: TransformSettings, metrics: DarkroomMetrics): VariantMaker {
  configureSharp({ threadsPerTransform: settings.threadsPerTransform });
  metrics.variantQueueCapacity.set(settings.maxQueued);
  metrics.variantQueueDepth.set(0);
  const gate = new TransformGate({
    concurrency: settings.concurrency,
    maxQueued: settings.maxQueued,
    retryAfterSeconds: busyRetryAfterSeconds,
    onQueueDepth: (waiting) => metrics.variantQueueDepth.set(waiting),
  });
  return new VariantMaker(gate, { maxFrames: maxAnimatedFrames, timeoutSeconds: settings.timeoutSeconds }, metrics);
}

export class VariantMaker {
  constructor(
    private readonly gate: TransformGate,
    private readonly limits: MakerLimits,
    private readonly metrics: DarkroomMetrics,
  ) {}

  async make(app: string, maxInputPixels: number, plan: VariantPlan, io: VariantIo, log: Logger): Promise<{ made: MadeVariant; outcome: GateOutcome }> {
    const { value, outcome } = await this.gate.once(plan.objectKey, async () => {
      const made = await this.gate.withSlot(async () => {
        const original = await io.readOriginal();
        const output = await this.gate.withCpu(async () => {
          const started = process.hrtime.bigint();
          try {
            const transformed = await transformImage(original, plan, { maxInputPixels, ...this.limits });
            this.metrics.variantTransformDuration.observe({ app }, Number(process.hrtime.bigint() - started) / 1e9);
            return transformed;
          } finally {
            // sharp has settled, so nothing reads the original any more: free it now rather than at the next full GC.
            releaseBuffer(original);
          }
        });
        return { data: output.data, contentType: plan.contentType, etag: `"${createHash('md5').update(output.data).digest('hex')}"` };
      });
      try {
        await io.store(made);
      } catch (error) {
        log.warn({ err: error, app }, 'a made variant could not be stored; it is served and will be made again');
      }
      return made;
    });
    return { made: value, outcome };
  }
}
