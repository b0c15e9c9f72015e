/**
 * The CDN breaker, in the style of Hystrix's HystrixCircuitBreakerTest: trip at 100 %, above the
 * threshold and not below it, on timeouts, not on low volume, not on neutral answers (a CDN 404),
 * one trial after the reset window, close on success, re-open on failure, and statistics that
 * roll out of the window. Fake timers drive opossum's rolling buckets and reset timer.
 */
import type CircuitBreaker from 'opossum';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { darkroomAppSpecSchema } from '../../src/config/darkroom-app.js';
import { breakerOptions, breakerTimeoutMarginMs, createCdnBreaker, isOpenCircuitError, type BreakerState, type CdnSettings } from '../../src/delivery/cdn-breaker.js';
import { CdnFailure } from '../../src/delivery/cdn-source.js';

type Outcome = 'ok' | 'fail' | 'not_found' | 'hang' | 'deferred';

function settings(breaker: Partial<CdnSettings['breaker']> = {}, timeoutMs = 1_000): CdnSettings {
  const spec = darkroomAppSpecSchema.parse({
    storage: { provider: 's3', bucket: 'unit-bucket' },
    cdn: { url: 'https://cdn.example.test', timeoutMs, breaker },
  });
  if (!spec.cdn) throw new Error('cdn expected');
  return spec.cdn;
}

let breaker: CircuitBreaker<[Outcome], string> | undefined;
let states: BreakerState[];
let calls: number;
/** Settles the last 'deferred' call. */
let settleDeferred: (value: string) => void = () => undefined;

function build(cdn: CdnSettings): CircuitBreaker<[Outcome], string> {
  calls = 0;
  states = [];
  const action = (outcome: Outcome): Promise<string> => {
    calls += 1;
    if (outcome === 'ok') return Promise.resolve('image');
    if (outcome === 'fail') return Promise.reject(new CdnFailure('status_5xx', { status: 503 }));
    if (outcome === 'not_found') return Promise.reject(new CdnFailure('not_found', { status: 404 }));
    if (outcome === 'deferred') return new Promise<string>((resolve) => (settleDeferred = resolve));
    return new Promise<string>(() => undefined);
  };
  breaker = createCdnBreaker(action, cdn, {
    name: 'cdn:unit',
    isNeutral: (error) => error instanceof CdnFailure && !error.countsAgainstCdn,
    onStateChange: (state) => states.push(state),
  });
  return breaker;
}

/** Fires and settles, swallowing the rejection (its reason is returned). */
async function fire(b: CircuitBreaker<[Outcome], string>, outcome: Outcome): Promise<unknown> {
  try {
    return await b.fire(outcome);
  } catch (error) {
    return error;
  }
}

async function fireAll(b: CircuitBreaker<[Outcome], string>, outcomes: Outcome[]): Promise<void> {
  for (const outcome of outcomes) await fire(b, outcome);
}

const times = (n: number, outcome: Outcome): Outcome[] => Array.from({ length: n }, () => outcome);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  breaker?.shutdown();
  breaker = undefined;
  vi.useRealTimers();
});

describe('breaker options', () => {
  it('maps the documented defaults and keeps opossum timeout a margin above the per-call deadline', () => {
    const options = breakerOptions(settings(), 'cdn:x');
    expect(options).toMatchObject({
      timeout: 1_000 + breakerTimeoutMarginMs,
      resetTimeout: 10_000,
      errorThresholdPercentage: 50,
      volumeThreshold: 20,
      rollingCountTimeout: 10_000,
      rollingCountBuckets: 10,
      enableSnapshots: false,
    });
    expect(options.abortController).toBeUndefined();
  });

  it('rejects out-of-bounds overrides in the schema', () => {
    for (const breakerSpec of [{ volumeThreshold: 0 }, { errorThresholdPercentage: 100 }, { resetTimeoutSeconds: 0 }, { rollingWindowSeconds: 3601 }]) {
      const result = darkroomAppSpecSchema.safeParse({ storage: { provider: 's3', bucket: 'unit-bucket' }, cdn: { url: 'https://cdn.example.test', breaker: breakerSpec } });
      expect(result.success, JSON.stringify(breakerSpec)).toBe(false);
    }
    expect(darkroomAppSpecSchema.safeParse({ storage: { provider: 's3', bucket: 'unit-bucket' }, cdn: { url: 'https://cdn.example.test', timeoutMs: 10 } }).success).toBe(false);
  });
});

describe('tripping', () => {
  it('trips at 100 % failures once the volume threshold is reached', async () => {
    const b = build(settings({ volumeThreshold: 5 }));
    await fireAll(b, times(5, 'fail'));
    expect(b.opened).toBe(true);
    expect(states).toEqual(['closed', 'open']);
  });

  it('does not trip on low volume, however bad', async () => {
    const b = build(settings({ volumeThreshold: 5 }));
    await fireAll(b, times(4, 'fail'));
    expect(b.closed).toBe(true);
    expect(states).toEqual(['closed']);
  });

  it('trips above the error threshold', async () => {
    const b = build(settings({ volumeThreshold: 10, errorThresholdPercentage: 50 }));
    await fireAll(b, [...times(4, 'ok'), ...times(6, 'fail')]);
    expect(b.opened).toBe(true);
  });

  it('does not trip at or below the error threshold', async () => {
    const atThreshold = build(settings({ volumeThreshold: 10, errorThresholdPercentage: 50 }));
    await fireAll(atThreshold, [...times(5, 'ok'), ...times(5, 'fail')]);
    expect(atThreshold.closed).toBe(true);
    atThreshold.shutdown();
    const below = build(settings({ volumeThreshold: 10, errorThresholdPercentage: 50 }));
    await fireAll(below, [...times(6, 'ok'), ...times(4, 'fail'), ...times(10, 'ok')]);
    expect(below.closed).toBe(true);
  });

  it('trips on timeouts (opossum backstop) as on errors', async () => {
    const b = build(settings({ volumeThreshold: 3 }, 200));
    const pending = [fire(b, 'hang'), fire(b, 'hang'), fire(b, 'hang')];
    await vi.advanceTimersByTimeAsync(200 + breakerTimeoutMarginMs);
    const reasons = await Promise.all(pending);
    expect(reasons.map((error) => (error as { code?: string }).code)).toEqual(['ETIMEDOUT', 'ETIMEDOUT', 'ETIMEDOUT']);
    expect(b.opened).toBe(true);
  });

  it('does not count neutral answers (a CDN 404) against the CDN', async () => {
    const b = build(settings({ volumeThreshold: 3 }));
    await fireAll(b, times(20, 'not_found'));
    expect(b.closed).toBe(true);
    expect(b.stats.failures).toBe(0);
  });

  it('forgets failures that rolled out of the window', async () => {
    const b = build(settings({ volumeThreshold: 5, rollingWindowSeconds: 10 }));
    await fireAll(b, times(4, 'fail'));
    await vi.advanceTimersByTimeAsync(11_000);
    await fire(b, 'fail');
    expect(b.closed).toBe(true);
    await fireAll(b, times(4, 'fail'));
    expect(b.opened).toBe(true);
  });
});

describe('open, half-open, close', () => {
  async function opened(resetTimeoutSeconds = 5): Promise<CircuitBreaker<[Outcome], string>> {
    const b = build(settings({ volumeThreshold: 3, resetTimeoutSeconds }));
    await fireAll(b, times(3, 'fail'));
    expect(b.opened).toBe(true);
    return b;
  }

  it('rejects at once while open, without calling the CDN', async () => {
    const b = await opened();
    const before = calls;
    const error = await fire(b, 'ok');
    expect(isOpenCircuitError(error)).toBe(true);
    expect(calls).toBe(before);
  });

  it('stays open until the reset window has passed', async () => {
    const b = await opened(5);
    await vi.advanceTimersByTimeAsync(4_900);
    expect(b.opened).toBe(true);
    expect(isOpenCircuitError(await fire(b, 'ok'))).toBe(true);
  });

  it('lets exactly one trial through after the reset window, and closes on its success', async () => {
    const b = await opened(5);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(b.halfOpen).toBe(true);
    expect(states.at(-1)).toBe('halfOpen');
    const before = calls;
    // The trial is in flight (settled by hand below); every other read is rejected meanwhile.
    const trial = fire(b, 'deferred');
    for (let i = 0; i < 3; i += 1) expect(isOpenCircuitError(await fire(b, 'ok'))).toBe(true);
    expect(calls).toBe(before + 1);
    settleDeferred('image');
    expect(await trial).toBe('image');
    expect(b.closed).toBe(true);
    expect(states.at(-1)).toBe('closed');
    expect(await fire(b, 'ok')).toBe('image');
  });

  it('re-opens when the trial fails, and tries again after another window', async () => {
    const b = await opened(5);
    await vi.advanceTimersByTimeAsync(5_000);
    await fire(b, 'fail');
    expect(b.opened).toBe(true);
    expect(states.slice(-2)).toEqual(['halfOpen', 'open']);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(b.halfOpen).toBe(true);
    expect(await fire(b, 'ok')).toBe('image');
    expect(b.closed).toBe(true);
  });

  it('shutdown stops the breaker for good', async () => {
    const b = await opened();
    b.shutdown();
    expect((await fire(b, 'ok')) as { code?: string }).toMatchObject({ code: 'ESHUTDOWN' });
  });
});
