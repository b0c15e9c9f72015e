/**
 * Writes DarkroomApp status, on the leader only, only when it changes, as a JSON merge patch on
 * the `status` subresource. Writes are idempotent (the same verdict yields the same status, and
 * `lastTransitionTime` is kept while the condition holds), which matters because Lease-based
 * election does not guarantee a single leader at every instant (no fencing, client-go docs).
 * Our own writes come back as MODIFIED events; those compare equal and write nothing. Until that
 * event arrives the object we hold still shows the old status, so a second reconcile in between
 * (another Secret read, another event) would write the same status again: a status written for a
 * resourceVersion is therefore not written again for that same resourceVersion.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { DarkroomMetrics } from '../../../metrics/metrics.js';
import { statusUpToDate, type AppStatus } from './app-status.js';
import { Backoff } from './backoff.js';
import { KubeApiError, type KubeApi } from './kube-api.js';

/** Options of {@link StatusWriter}. */
export interface StatusWriterOptions {
  readonly api: KubeApi;
  readonly metrics: DarkroomMetrics;
  readonly logger: Logger;
  /** Whether this replica may write (holds the Lease). */
  readonly isLeader: () => boolean;
  /** First retry delay after a failed write, in ms. Default 1 000 (capped at 30 s, jittered). */
  readonly retryInitialMs?: number;
}

interface Job {
  readonly namespace: string;
  readonly name: string;
  readonly status: AppStatus;
}

export class StatusWriter {
  readonly #options: StatusWriterOptions;
  /** Latest desired status per object not yet written. */
  readonly #pending = new Map<string, Job>();
  readonly #inflight = new Set<string>();
  readonly #retries = new Map<string, { backoff: Backoff; timer: NodeJS.Timeout | undefined }>();
  /** The last status queued per object, and the resourceVersion of the object it was computed against. */
  readonly #sent = new Map<string, { status: AppStatus; basedOn: string | undefined }>();
  #stopped = false;

  constructor(options: StatusWriterOptions) {
    this.#options = options;
  }

  /**
   * Makes the object's status `desired` unless it already is, or was already sent for this
   * `resourceVersion` of the object (or this replica is not the leader).
   */
  reconcile(namespace: string, name: string, current: unknown, desired: AppStatus, resourceVersion?: string): void {
    if (this.#stopped || statusUpToDate(current, desired) || !this.#options.isLeader()) return;
    const key = `${namespace}/${name}`;
    const sent = this.#sent.get(key);
    if (resourceVersion !== undefined && sent?.basedOn === resourceVersion && isDeepStrictEqual(sent.status, desired)) return;
    this.#sent.set(key, { status: desired, basedOn: resourceVersion });
    this.#pending.set(key, { namespace, name, status: desired });
    void this.#flush(key);
  }

  /** The object was deleted: drop anything queued for it. */
  forget(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.#pending.delete(key);
    this.#sent.delete(key);
    clearTimeout(this.#retries.get(key)?.timer);
    this.#retries.delete(key);
  }

  /** Stops writing; queued writes are dropped (the next leader recomputes them). */
  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    this.#sent.clear();
    for (const retry of this.#retries.values()) clearTimeout(retry.timer);
    this.#retries.clear();
  }

  // One write per object at a time; a newer desired status replaces a queued one.
  async #flush(key: string): Promise<void> {
    if (this.#inflight.has(key)) return;
    this.#inflight.add(key);
    try {
      for (let job = this.#pending.get(key); job && !this.#stopped; job = this.#pending.get(key)) {
        this.#pending.delete(key);
        if (!this.#options.isLeader()) {
          this.#sent.delete(key); // dropped unwritten: the next leader term reconciles it again
          return;
        }
        await this.#write(key, job);
      }
    } finally {
      this.#inflight.delete(key);
    }
  }

  async #write(key: string, job: Job): Promise<void> {
    const { api, metrics, logger } = this.#options;
    try {
      await api.patchDarkroomAppStatus(job.namespace, job.name, job.status);
      metrics.configStatusWrites.inc({ outcome: 'ok' });
      this.#retries.delete(key);
    } catch (error) {
      // Not written after all: a later reconcile for the same resourceVersion must try again.
      this.#sent.delete(key);
      const status = error instanceof KubeApiError ? error.status : 0;
      if (status === 404) return; // deleted meanwhile: nothing to report on
      metrics.configStatusWrites.inc({ outcome: status === 409 ? 'conflict' : 'error' });
      const retry = this.#retries.get(key) ?? { backoff: new Backoff({ initialMs: this.#options.retryInitialMs ?? 1_000 }), timer: undefined };
      this.#retries.set(key, retry);
      const delayMs = retry.backoff.next();
      logger.warn({ err: error, app: job.name, namespace: job.namespace, delayMs }, 'DarkroomApp status write failed; retrying');
      clearTimeout(retry.timer);
      retry.timer = setTimeout(() => {
        if (this.#stopped || this.#pending.has(key)) return; // a newer verdict is already queued
        this.#pending.set(key, job);
        void this.#flush(key);
      }, delayMs);
    }
  }
}
