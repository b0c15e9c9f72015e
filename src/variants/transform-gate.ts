/**
 * Bounds transform work in one pod, in two stages:
 * - admission (`withSlot`): at most `2 x concurrency` variants are being made at once (each holds
 *   its buffered original), at most `maxQueued` more wait, and anything beyond is refused at once
 *   with TRANSFORM_BUSY (503, `Retry-After`) rather than queued without end;
 * - CPU (`withCpu`, inside an admitted task): at most `concurrency` transforms run at once.
 * Admitting twice as many as may transform lets the next originals arrive while the current ones
 * transform, so the cores never wait for storage, while memory stays bounded by the admitted
 * originals (the queue holds requests, not images).
 *
 * Requests for a variant that is already being made join that work (single flight, `once`): N
 * clients asking for the same missing variant cost one transform and one slot. The stages are apart
 * from single flight so that a caller holds a slot only for the work that needs it (reading the
 * original and transforming), not while it stores the result. No I/O of its own.
 */
import { darkroomError } from '../core/errors.js';

/** How much transform work one pod takes on. */
export interface TransformGateOptions {
  /** Transforms running at once (`withCpu`); twice as many may be admitted (`withSlot`). */
  readonly concurrency: number;
  /** Variants waiting for admission; one more is refused with TRANSFORM_BUSY. */
  readonly maxQueued: number;
  /** Seconds a refused client is told to wait (`Retry-After`). */
  readonly retryAfterSeconds: number;
  /** Called with the number waiting for admission whenever it changes (the queue-depth gauge). */
  readonly onQueueDepth?: (waiting: number) => void;
}

/** How a call was served: it started the work, or joined work already under way. */
export type GateOutcome = 'started' | 'joined';

/** A counting semaphore whose waiters are served in order; a released permit goes straight to the next. */
class Permits {
  private held = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly size: number,
    private readonly onWaiting: (waiting: number) => void = () => undefined,
  ) {}

  get inUse(): number {
    return this.held;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get free(): boolean {
    return this.held < this.size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.held < this.size) {
      this.held += 1;
    } else {
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        this.onWaiting(this.waiters.length);
      });
    }
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  #release(): void {
    const next = this.waiters.shift();
    if (next) {
      this.onWaiting(this.waiters.length);
      next();
    } else {
      this.held -= 1;
    }
  }
}

export class TransformGate {
  readonly #admission: Permits;
  readonly #cpu: Permits;
  readonly #inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly options: TransformGateOptions) {
    this.#admission = new Permits(options.concurrency * 2, options.onQueueDepth);
    this.#cpu = new Permits(options.concurrency);
  }

  /** Variants admitted now (reading their original, waiting for a core, or transforming). */
  get active(): number {
    return this.#admission.inUse;
  }

  /** Variants waiting for admission now. */
  get queued(): number {
    return this.#admission.waiting;
  }

  /** Transforms holding a core now. */
  get transforming(): number {
    return this.#cpu.inUse;
  }

  /**
   * Single flight: runs `work` for `key`, or joins the run already under way for `key` (the
   * joiner gets the same result or error). The key is free again once `work` settles.
   */
  async once<T>(key: string, work: () => Promise<T>): Promise<{ value: T; outcome: GateOutcome }> {
    const existing = this.#inFlight.get(key) as Promise<T> | undefined;
    if (existing) return { value: await existing, outcome: 'joined' };
    const run = work();
    this.#inFlight.set(key, run);
    try {
      return { value: await run, outcome: 'started' };
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /**
   * Admits `task` (reading an original and transforming it): at once when there is room, after
   * the tasks ahead of it when the queue has room, else throws TRANSFORM_BUSY (with
   * `Retry-After`) without running it.
   */
  async withSlot<T>(task: () => Promise<T>): Promise<T> {
    if (!this.#admission.free && this.#admission.waiting >= this.options.maxQueued) {
      throw darkroomError('TRANSFORM_BUSY', { retryAfterSeconds: this.options.retryAfterSeconds });
    }
    return this.#admission.run(task);
  }

  /** Runs the CPU-bound part of an admitted task on one of `concurrency` cores' worth of slots. */
  async withCpu<T>(task: () => Promise<T>): Promise<T> {
    return this.#cpu.run(task);
  }
}
