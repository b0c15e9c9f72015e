/**
 * Bounds transform work in one pod: at most `concurrency` tasks hold a slot at once, at most
 * `maxQueued` more wait, and anything beyond is refused at once with TRANSFORM_BUSY (503,
 * `Retry-After`) rather than queued without end. Requests for a variant that is already being
 * made join that work (single flight, `once`): N clients asking for the same missing variant cost
 * one transform and one slot. The two are apart so that a caller holds a slot only for the work
 * that needs it (reading the original and transforming: memory and CPU), not while it stores the
 * result. No I/O of its own; the caller's tasks do the work.
 */
import { darkroomError } from '../core/errors.js';

/** How much transform work one pod takes on. */
export interface TransformGateOptions {
  /** Transforms running at once. */
  readonly concurrency: number;
  /** Transforms waiting for a slot; one more is refused with TRANSFORM_BUSY. */
  readonly maxQueued: number;
  /** Seconds a refused client is told to wait (`Retry-After`). */
  readonly retryAfterSeconds: number;
  /** Called with the number waiting whenever it changes (the queue-depth gauge). */
  readonly onQueueDepth?: (waiting: number) => void;
}

/** How a call was served: it started the work, or joined work already under way. */
export type GateOutcome = 'started' | 'joined';

export class TransformGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly options: TransformGateOptions) {}

  /** Transforms running now. */
  get active(): number {
    return this.running;
  }

  /** Transforms waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Single flight: runs `work` for `key`, or joins the run already under way for `key` (the
   * joiner gets the same result or error). The key is free again once `work` settles.
   */
  async once<T>(key: string, work: () => Promise<T>): Promise<{ value: T; outcome: GateOutcome }> {
    const existing = this.inFlight.get(key) as Promise<T> | undefined;
    if (existing) return { value: await existing, outcome: 'joined' };
    const run = work();
    this.inFlight.set(key, run);
    try {
      return { value: await run, outcome: 'started' };
    } finally {
      this.inFlight.delete(key);
    }
  }

  /**
   * Runs `task` in a slot: at once when one is free, after the tasks ahead of it when the queue
   * has room, else throws TRANSFORM_BUSY (with `Retry-After`) without running it.
   */
  async withSlot<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.options.concurrency && this.waiting.length >= this.options.maxQueued) {
      throw darkroomError('TRANSFORM_BUSY', { retryAfterSeconds: this.options.retryAfterSeconds });
    }
    return this.#inSlot(task);
  }

  async #inSlot<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.options.concurrency) {
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.options.onQueueDepth?.(this.waiting.length);
      });
    } else {
      this.running += 1;
    }
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  /** Hands the slot straight to the next waiter (running stays the same), or frees it. */
  #release(): void {
    const next = this.waiting.shift();
    if (next) {
      this.options.onQueueDepth?.(this.waiting.length);
      next();
    } else {
      this.running -= 1;
    }
  }
}
