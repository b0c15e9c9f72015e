/**
 * Leader election on a `coordination.k8s.io/v1` Lease, so that one replica writes DarkroomApp
 * status. client-node ships no elector; this follows client-go's `leaderelection` semantics:
 * LeaseDuration 15 s > RenewDeadline 10 s > RetryPeriod 2 s, every update conditional on the
 * resourceVersion read (a 409 means another replica won the race), expiry judged by our own
 * clock from when *we* last saw the record change (never by comparing clocks across machines),
 * and the Lease released on shutdown so a successor takes over at once. It does not fence: two
 * leaders can briefly overlap, so what the leader writes must be idempotent.
 */
import type { Logger } from 'pino';
import type { DarkroomMetrics } from '../../../metrics/metrics.js';
import { sleep } from './backoff.js';
import { KubeApiError, type KubeApi, type LeaseRecord } from './kube-api.js';

/** The Lease darkroom elects its status writer on; the chart's Role names it (resourceNames). */
export const leaseName = 'darkroom-status-writer';

/** Options of {@link LeaseElector}. */
export interface LeaseElectorOptions {
  readonly api: KubeApi;
  /** Namespace of the Lease (darkroom's own). */
  readonly namespace: string;
  /** This replica's identity (the pod name). */
  readonly identity: string;
  /** How long a Lease holds without renewal, in ms. Default 15 000. */
  readonly leaseDurationMs?: number;
  /** A leader that cannot renew for this long steps down, in ms. Default 10 000. */
  readonly renewDeadlineMs?: number;
  /** Time between attempts, in ms (jittered up to +20 %). Default 2 000. */
  readonly retryPeriodMs?: number;
  readonly onStartedLeading?: () => void;
  readonly metrics: DarkroomMetrics;
  readonly logger: Logger;
}

export class LeaseElector {
  readonly #options: LeaseElectorOptions;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #leader = false;
  #lastRenewed = 0;
  /** The record as last seen, and when (our clock) it last changed. */
  #observed: { record: LeaseRecord; at: number } | undefined;

  constructor(options: LeaseElectorOptions) {
    this.#options = options;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    options.metrics.leader.set(0);
  }

  /** True while this replica holds the Lease. */
  get isLeader(): boolean {
    return this.#leader;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops campaigning and, if leading, releases the Lease (best effort, bounded by the API timeout). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    if (!this.#leader) return;
    this.#setLeader(false);
    const observed = this.#observed?.record;
    if (!observed || observed.holderIdentity !== this.#options.identity) return;
    try {
      // client-go's release: empty holder and a 1 s duration, so candidates need not wait.
      await this.#options.api.replaceLease(this.#options.namespace, leaseName, {
        ...observed,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: new Date(),
      });
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'could not release the status-writer Lease; it expires on its own');
    }
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      let acquired = false;
      try {
        acquired = await this.#tryAcquireOrRenew();
      } catch (error) {
        this.#options.logger.debug({ err: error }, 'Lease attempt failed');
      }
      if (acquired) this.#lastRenewed = Date.now();
      if (acquired && !this.#leader) this.#setLeader(true);
      if (!acquired && this.#leader && Date.now() - this.#lastRenewed > this.#renewDeadlineMs) this.#setLeader(false);
      await sleep(this.#retryPeriodMs * (1 + 0.2 * Math.random()), this.#stop.signal);
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, identity } = this.#options;
    const now = Date.now();
    const desired = (base: LeaseRecord | undefined): LeaseRecord => {
      const holderChanges = base?.holderIdentity !== identity;
      return {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000),
        acquireTime: holderChanges ? new Date(now) : (base?.acquireTime ?? new Date(now)),
        renewTime: new Date(now),
        leaseTransitions: (base?.leaseTransitions ?? 0) + (base && holderChanges ? 1 : 0),
        resourceVersion: base?.resourceVersion,
      };
    };
    const current = await api.readLease(namespace, leaseName);
    if (!current) {
      return this.#write(() => api.createLease(namespace, leaseName, desired(undefined)));
    }
    if (!this.#observed || !sameRecord(this.#observed.record, current)) this.#observed = { record: current, at: now };
    const heldByOther = current.holderIdentity !== '' && current.holderIdentity !== identity;
    const expiresAt = this.#observed.at + current.leaseDurationSeconds * 1000;
    if (heldByOther && expiresAt > now) return false;
    return this.#write(() => api.replaceLease(namespace, leaseName, desired(current)));
  }

  async #write(write: () => Promise<LeaseRecord>): Promise<boolean> {
    try {
      const written = await write();
      this.#observed = { record: written, at: Date.now() };
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 409) return false; // another replica won the race
      throw error;
    }
  }

  #setLeader(leader: boolean): void {
    this.#leader = leader;
    this.#options.metrics.leader.set(leader ? 1 : 0);
    this.#options.logger.info({ identity: this.#options.identity, lease: leaseName }, leader ? 'became the status-writer leader' : 'stopped leading');
    if (leader) this.#options.onStartedLeading?.();
  }
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return a.resourceVersion === b.resourceVersion && a.holderIdentity === b.holderIdentity && a.renewTime?.getTime() === b.renewTime?.getTime();
}
