import { describe, expect, it } from 'vitest';
import { gcra } from '../../src/ratelimit/gcra.js';
import { MemoryRateLimiter } from '../../src/ratelimit/memory-rate-limiter.js';

const limit = { requests: 3, windowSeconds: 60 };

describe('gcra', () => {
  it('admits a burst of the limit, then refuses with a retry time', () => {
    let tat: number | undefined;
    const remaining: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const outcome = gcra(tat, 1_000_000, limit);
      expect(outcome.decision.allowed).toBe(true);
      remaining.push(outcome.decision.remaining);
      tat = outcome.newTatMs;
    }
    expect(remaining).toEqual([2, 1, 0]);
    const refused = gcra(tat, 1_000_000, limit);
    expect(refused.decision.allowed).toBe(false);
    expect(refused.newTatMs).toBeUndefined();
    expect(refused.decision.retryAfterSeconds).toBe(20);
  });

  it('admits one more request each interval (no boundary burst)', () => {
    let tat: number | undefined;
    for (let i = 0; i < 3; i += 1) tat = gcra(tat, 0, limit).newTatMs;
    expect(gcra(tat, 19_999, limit).decision.allowed).toBe(false);
    const later = gcra(tat, 20_000, limit);
    expect(later.decision.allowed).toBe(true);
    expect(gcra(later.newTatMs, 20_000, limit).decision.allowed).toBe(false);
  });
});

describe('MemoryRateLimiter', () => {
  it('keeps owners and apps apart and forgets expired state', async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter({ now: () => now });
    for (let i = 0; i < 3; i += 1) expect((await limiter.consume('app', 'alice', limit)).allowed).toBe(true);
    expect((await limiter.consume('app', 'alice', limit)).allowed).toBe(false);
    expect((await limiter.consume('app', 'bob', limit)).allowed).toBe(true);
    expect((await limiter.consume('other', 'alice', limit)).allowed).toBe(true);
    now = 61_000;
    limiter.sweep();
    expect(limiter.size).toBe(0);
    expect((await limiter.consume('app', 'alice', limit)).remaining).toBe(2);
    await limiter.close();
  });

  it('bounds memory under a flood of owners', async () => {
    const limiter = new MemoryRateLimiter({ maxKeys: 100 });
    for (let i = 0; i < 1000; i += 1) await limiter.consume('app', `owner-${i}`, limit);
    expect(limiter.size).toBe(100);
    await limiter.close();
  });
});
