/**
 * One opossum circuit breaker around one CDN, built from the app's `cdn` settings. Kept apart from
 * the registry of breakers so that the Hystrix-style test matrix drives exactly what production
 * runs, with fake timers.
 *
 * Choices (OPERATIONS.md §4):
 * - `volumeThreshold` is set (opossum's default 0 lets one failure in a quiet window open it);
 * - opossum's `timeout` is only a backstop, a little longer than the per-call deadline that
 *   actually cancels the request; opossum's shared `abortController` is not used (opossum#780);
 * - no opossum fallback: the caller falls back itself, so that it knows and meters the reason;
 * - neutral errors (a CDN 404, the client leaving) are filtered: they count as successes and do
 *   not move the breaker;
 * - snapshots and percentiles are off: nothing reads them, and each costs timers per breaker.
 */
import CircuitBreaker from 'opossum';
import type { DarkroomAppSpec } from '../config/darkroom-app.js';

/** The app's CDN settings with their defaults applied (see `cdn` in `DarkroomApp`). */
export type CdnSettings = NonNullable<DarkroomAppSpec['cdn']>;

/** Breaker state as the `darkroom_cdn_breaker_state` gauge encodes it. */
export const breakerStateValue = { closed: 0, halfOpen: 1, open: 2 } as const;
export type BreakerState = keyof typeof breakerStateValue;

/** How much longer than the per-call deadline opossum's own timeout is, in ms. */
export const breakerTimeoutMarginMs = 250;
/** Buckets in the rolling window (opossum's default). */
export const rollingBuckets = 10;

/** The opossum options for `settings`. Pure. */
export function breakerOptions(settings: CdnSettings, name: string): CircuitBreaker.Options {
  return {
    name,
    timeout: settings.timeoutMs + breakerTimeoutMarginMs,
    resetTimeout: settings.breaker.resetTimeoutSeconds * 1000,
    errorThresholdPercentage: settings.breaker.errorThresholdPercentage,
    volumeThreshold: settings.breaker.volumeThreshold,
    rollingCountTimeout: settings.breaker.rollingWindowSeconds * 1000,
    rollingCountBuckets: rollingBuckets,
    rollingPercentilesEnabled: false,
    enableSnapshots: false,
  };
}

/** Options beyond the settings. */
export interface CdnBreakerHooks<TArgs extends unknown[]> {
  /** Breaker name, for logs. */
  readonly name: string;
  /** True for an error that says nothing about the CDN's health (it then counts as a success). */
  readonly isNeutral: (error: unknown, ...args: TArgs) => boolean;
  /** Called on every state change (and once with `closed` at creation). */
  readonly onStateChange: (state: BreakerState) => void;
}

/** A breaker around `action`. `fire()` rejects with opossum's `EOPENBREAKER` error while open. */
export function createCdnBreaker<TArgs extends unknown[], TResult>(
  action: (...args: TArgs) => Promise<TResult>,
  settings: CdnSettings,
  hooks: CdnBreakerHooks<TArgs>,
): CircuitBreaker<TArgs, TResult> {
  const breaker = new CircuitBreaker<TArgs, TResult>(action, {
    ...breakerOptions(settings, hooks.name),
    errorFilter: (error: unknown, ...args: unknown[]) => hooks.isNeutral(error, ...(args as TArgs)),
  });
  breaker.on('open', () => hooks.onStateChange('open'));
  breaker.on('halfOpen', () => hooks.onStateChange('halfOpen'));
  breaker.on('close', () => hooks.onStateChange('closed'));
  hooks.onStateChange('closed');
  return breaker;
}

/** True for the error `fire()` rejects with while the circuit is open (or half-open with a trial in flight). */
export function isOpenCircuitError(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'EOPENBREAKER';
}

/** True for opossum's own (backstop) timeout. */
export function isBreakerTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'ETIMEDOUT';
}
