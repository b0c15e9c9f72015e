/**
 * Conditions besides Ready (CORSReady) in the desired status: each keeps its own
 * lastTransitionTime while its status holds, and carries the observed generation.
 */
import { describe, expect, it } from 'vitest';
import { desiredStatus, statusUpToDate } from '../../src/config/sources/kubernetes/app-status.js';

const first = new Date('2030-01-01T00:00:00.000Z');
const later = new Date(first.getTime() + 60_000);
const cors = { type: 'CORSReady', status: 'False', reason: 'NoCORSConfiguration', message: 'The bucket has no CORS configuration.' } as const;

describe('desiredStatus with extra conditions', () => {
  it('lists Ready first, then the extra conditions, each dated and with the generation', () => {
    const status = desiredStatus({ ready: true }, 3, undefined, first, [cors]);
    expect(status.conditions).toEqual([
      expect.objectContaining({ type: 'Ready', status: 'True', observedGeneration: 3, lastTransitionTime: '2030-01-01T00:00:00Z' }),
      { ...cors, observedGeneration: 3, lastTransitionTime: '2030-01-01T00:00:00Z' },
    ]);
  });

  it('keeps each condition’s transition time while its status holds, and moves it when the status flips', () => {
    const before = desiredStatus({ ready: true }, 1, undefined, first, [cors]);
    const same = desiredStatus({ ready: true }, 1, before, later, [{ ...cors, message: 'Still none.' }]);
    expect(same.conditions.map((condition) => condition.lastTransitionTime)).toEqual(['2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z']);
    const flipped = desiredStatus({ ready: true }, 1, before, later, [{ ...cors, status: 'True', reason: 'CORSRulesMatch' }]);
    expect(flipped.conditions.map((condition) => condition.lastTransitionTime)).toEqual(['2030-01-01T00:00:00Z', '2030-01-01T00:01:00Z']);
  });

  it('is up to date only when the extra conditions match too', () => {
    const written = desiredStatus({ ready: true }, 1, undefined, first, [cors]);
    expect(statusUpToDate(written, desiredStatus({ ready: true }, 1, written, later, [cors]))).toBe(true);
    expect(statusUpToDate(written, desiredStatus({ ready: true }, 1, written, later, []))).toBe(false);
  });
});
