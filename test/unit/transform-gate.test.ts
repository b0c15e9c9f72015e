/** The per-pod transform bounds: concurrency, a bounded queue, single flight per variant key. */
import { describe, expect, it } from 'vitest';
import { isDarkroomError } from '../../src/core/errors.js';
import { TransformGate } from '../../src/variants/transform-gate.js';

/** A task the test finishes by hand, so no timing decides the outcome. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('TransformGate', () => {
  it('admits twice `concurrency`, queues up to `maxQueued`, refuses the next with TRANSFORM_BUSY and Retry-After', async () => {
    const depths: number[] = [];
    const gate = new TransformGate({ concurrency: 1, maxQueued: 1, retryAfterSeconds: 2, onQueueDepth: (depth) => depths.push(depth) });
    const tasks = [deferred<string>(), deferred<string>(), deferred<string>()];
    const started: number[] = [];
    const runs = tasks.map((task, index) => gate.withSlot(() => { started.push(index); return task.promise; }));
    await settle();
    expect(started).toEqual([0, 1]);
    expect([gate.active, gate.queued]).toEqual([2, 1]);

    let ranRefused = false;
    const refused = await gate.withSlot(async () => { ranRefused = true; return 'never'; }).catch((error: unknown) => error);
    expect(ranRefused).toBe(false);
    expect(isDarkroomError(refused) && [refused.code, refused.status, refused.retryAfterSeconds]).toEqual(['TRANSFORM_BUSY', 503, 2]);

    tasks[0]!.resolve('a');
    await settle();
    expect(started).toEqual([0, 1, 2]); // the queued one took the freed slot
    expect([gate.active, gate.queued]).toEqual([2, 0]);
    tasks[1]!.resolve('b');
    tasks[2]!.resolve('c');
    expect(await Promise.all(runs)).toEqual(['a', 'b', 'c']);
    expect([gate.active, gate.queued]).toEqual([0, 0]);
    expect(depths).toEqual([1, 0]);
  });

  it('lets only `concurrency` admitted tasks transform at once; the others wait with their original read', async () => {
    const gate = new TransformGate({ concurrency: 2, maxQueued: 0, retryAfterSeconds: 1 });
    const transforms = [deferred<void>(), deferred<void>(), deferred<void>(), deferred<void>()];
    const transforming: number[] = [];
    const runs = transforms.map((transform, index) =>
      gate.withSlot(async () => {
        await Promise.resolve(); // the original arrives
        return gate.withCpu(async () => {
          transforming.push(index);
          await transform.promise;
          return index;
        });
      }),
    );
    await settle();
    expect([gate.active, gate.transforming, transforming]).toEqual([4, 2, [0, 1]]);
    transforms[0]!.resolve();
    await settle();
    expect([gate.transforming, transforming]).toEqual([2, [0, 1, 2]]);
    for (const transform of transforms) transform.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect([gate.active, gate.transforming]).toEqual([0, 0]);
  });

  it('joins concurrent calls for one key: one task, one slot, the same result', async () => {
    const gate = new TransformGate({ concurrency: 1, maxQueued: 0, retryAfterSeconds: 1 });
    const task = deferred<string>();
    let calls = 0;
    // Five clients, one slot and no queue: only single flight lets all five through.
    const runs = Array.from({ length: 5 }, () => gate.once('same', () => gate.withSlot(() => { calls += 1; return task.promise; })));
    await settle();
    task.resolve('made');
    const results = await Promise.all(runs);
    expect(calls).toBe(1);
    expect(results.map((result) => result.outcome).sort()).toEqual(['joined', 'joined', 'joined', 'joined', 'started']);
    expect(new Set(results.map((result) => result.value))).toEqual(new Set(['made']));
  });

  it('a failure reaches every joiner, frees the slot and the key', async () => {
    const gate = new TransformGate({ concurrency: 1, maxQueued: 0, retryAfterSeconds: 1 });
    const task = deferred<string>();
    const first = gate.once('k', () => gate.withSlot(() => task.promise));
    const second = gate.once('k', () => Promise.resolve('other'));
    task.reject(new Error('broken input'));
    await expect(first).rejects.toThrow('broken input');
    await expect(second).rejects.toThrow('broken input');
    expect(gate.active).toBe(0);
    // The key is free again: the next call runs its own task.
    expect(await gate.once('k', async () => 'retry')).toEqual({ value: 'retry', outcome: 'started' });
  });
});
