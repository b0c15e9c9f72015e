/**
 * The CDN of every app that has one: its source and its breaker, one per (app, CDN settings).
 * Rebuilt when the app's `cdn` spec changes, shut down (timers stopped, gauge series removed) when
 * the app disappears or loses its CDN; fed by the registry's `onChange`.
 */
import { isDeepStrictEqual } from 'node:util';
import type CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import type { DarkroomApp } from '../config/darkroom-app.js';
import type { DarkroomMetrics } from '../metrics/metrics.js';
import { breakerStateValue, createCdnBreaker, type CdnSettings } from './cdn-breaker.js';
import type { CdnClient } from './cdn-client.js';
import { CdnFailure, CdnSource } from './cdn-source.js';
import type { SourceReply, SourceRequest } from './image-source.js';

/**
 * One call through the breaker, as its caller sees it. When opossum's backstop timeout rejects
 * `fire()` first, the caller marks the call abandoned, and a reply that arrives afterwards has its
 * body destroyed at once (its socket closed) instead of being left unread until the idle timeout.
 */
export interface CdnCall {
  abandoned: boolean;
}

/** One app's CDN. */
export interface AppCdn {
  readonly settings: CdnSettings;
  readonly source: CdnSource;
  /** Fires `source.read` through the breaker. */
  readonly breaker: CircuitBreaker<[SourceRequest, CdnCall], SourceReply>;
}

export class CdnBreakers {
  readonly #entries = new Map<string, AppCdn>();

  constructor(
    private readonly client: CdnClient,
    private readonly metrics: DarkroomMetrics,
    private readonly logger: Logger,
  ) {}

  /** The app's CDN, or undefined when it has none. */
  forApp(app: DarkroomApp): AppCdn | undefined {
    const settings = app.spec.cdn;
    if (!settings) return undefined;
    const name = app.metadata.name;
    const cached = this.#entries.get(name);
    // Identity first: a snapshot's objects are reused until the next replace (the hot path).
    if (cached && (cached.settings === settings || isDeepStrictEqual(cached.settings, settings))) return cached;
    if (cached) this.#shutDown(name, cached);
    const entry = this.#build(name, settings);
    this.#entries.set(name, entry);
    return entry;
  }

  /** Builds breakers for served apps with a CDN, and shuts down those no longer needed. */
  retain(apps: ReadonlyMap<string, DarkroomApp>): void {
    for (const [name, entry] of this.#entries) {
      const app = apps.get(name);
      if (!app?.spec.cdn || !isDeepStrictEqual(app.spec.cdn, entry.settings)) {
        this.#shutDown(name, entry);
        this.#entries.delete(name);
      }
    }
    for (const app of apps.values()) this.forApp(app);
  }

  /** Shuts every breaker down. */
  close(): void {
    for (const [name, entry] of this.#entries) this.#shutDown(name, entry);
    this.#entries.clear();
  }

  #build(app: string, settings: CdnSettings): AppCdn {
    const source = new CdnSource(this.client, settings.url, settings.timeoutMs);
    const breaker = createCdnBreaker(async (request: SourceRequest, call: CdnCall) => {
      const reply = await source.read(request);
      if (call.abandoned) reply.body?.destroy();
      return reply;
    }, settings, {
      name: `cdn:${app}`,
      isNeutral: (error, request) => request.signal.aborted || (error instanceof CdnFailure && !error.countsAgainstCdn),
      onStateChange: (state) => {
        this.metrics.cdnBreakerState.set({ app }, breakerStateValue[state]);
        if (state !== 'closed' || this.#entries.has(app)) this.logger.warn({ app, state }, `CDN circuit breaker for app "${app}" is now ${state}`);
      },
    });
    return { settings, source, breaker };
  }

  #shutDown(app: string, entry: AppCdn): void {
    entry.breaker.shutdown();
    this.metrics.cdnBreakerState.remove({ app });
  }
}
