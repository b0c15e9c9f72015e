/**
 * The Kubernetes config source: watches `DarkroomApp` resources (one namespace, or all) and hands
 * the registry a whole new snapshot after every event. Level-based (controller-runtime's
 * reconcile model): each event replaces the whole object, the snapshot is rebuilt from every
 * object known, and nothing is computed from diffs. The watch is supervised (restart with backoff,
 * stale rebuild); on losing the API server the last snapshot keeps serving. The elected replica
 * reports each app's verdict in its `status`; credentials Secrets are read and kept fresh.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { DarkroomMetrics } from '../../../metrics/metrics.js';
import { secretProblems, type SecretCredentialsLookup } from '../../../storage/credentials.js';
import type { AppSnapshot, InvalidAppReport } from '../../app-registry.js';
import type { ConfigSource } from '../../config-source.js';
import { parseDarkroomApp, type AppParseResult } from '../../darkroom-app.js';
import { buildSnapshot, type LocatedParseResult } from '../../snapshot.js';
import type { DarkroomApp } from '../../darkroom-app.js';
import { desiredStatus, type AppVerdict, type ExtraCondition } from './app-status.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { ClientNodeKubeApi, type KubeApi, type KubeObject } from './kube-api.js';
import { LeaseElector } from './lease-elector.js';
import { runListWatch, type ListWatchHandlers, type ListWatchState } from './list-watch.js';
import { SecretReader } from './secret-reader.js';
import { StatusWriter } from './status-writer.js';
import { WatchSupervisor } from './watch-supervisor.js';

/** Timings; the defaults suit production, tests shorten them. */
export interface KubernetesSourceTiming {
  /** A watch with no event or bookmark for this long is reconnected, in ms. Default 30 000 (client-node's own). */
  readonly watchInactivityTimeoutMs?: number;
  /** Nothing at all from the API server for this long rebuilds the watch with a re-list, in ms. Default 150 000. */
  readonly staleAfterMs?: number;
  /** Restart backoff. Default 500 ms doubling to 30 s, 50 % jitter. */
  readonly restartBackoff?: BackoffOptions;
  /** `timeoutSeconds` asked of the server per watch: random in [min, 2·min). Default 300 (client-go's). */
  readonly serverWatchTimeoutSeconds?: number;
  /** Lease timings in ms. Defaults 15 000 / 10 000 / 2 000 (client-go's). */
  readonly leaseDurationMs?: number;
  readonly leaseRenewDeadlineMs?: number;
  readonly leaseRetryPeriodMs?: number;
  /** Credentials Secret re-read interval, in ms. Default 30 000. */
  readonly secretRefreshMs?: number;
  /** Retry delay after a failed status write, in ms. Default 1 000. */
  readonly statusRetryMs?: number;
}

/** Options of {@link KubernetesConfigSource}. */
export interface KubernetesConfigSourceOptions {
  readonly kubeConfig: KubeConfig;
  /** Namespace to watch; undefined watches all namespaces. */
  readonly namespace: string | undefined;
  /** darkroom's own namespace, where the status-writer Lease lives. */
  readonly leaseNamespace: string;
  /** This replica's identity for the Lease (the pod name). */
  readonly identity: string;
  readonly metrics: DarkroomMetrics;
  readonly logger: Logger;
  readonly timing?: KubernetesSourceTiming;
}

export class KubernetesConfigSource implements ConfigSource {
  readonly description: string;
  /** The credentials Secrets read so far, for the storage builders. */
  readonly secrets: SecretCredentialsLookup;

  readonly #options: KubernetesConfigSourceOptions;
  readonly #api: KubeApi;
  readonly #supervisor: WatchSupervisor;
  readonly #elector: LeaseElector;
  readonly #writer: StatusWriter;
  readonly #secretReader: SecretReader;
  readonly #objects = new Map<string, KubeObject>();
  readonly #parsed = new Map<string, { resourceVersion: string | undefined; result: AppParseResult }>();
  readonly #state: ListWatchState = { resourceVersion: '' };
  /** Conditions besides Ready reported by other parts (CORSReady), by `namespace/name`. */
  readonly #extraConditions = new Map<string, Map<string, ExtraCondition>>();
  #snapshot: AppSnapshot | undefined;
  #deliver: ((snapshot: AppSnapshot) => void) | undefined;
  #lastAlive = 0;
  #stopped = false;
  #firstSync: { promise: Promise<void>; resolve: () => void };

  constructor(options: KubernetesConfigSourceOptions) {
    const { metrics, logger, timing = {} } = options;
    this.#options = options;
    this.#api = new ClientNodeKubeApi(options.kubeConfig);
    this.description = `Kubernetes DarkroomApps in ${options.namespace === undefined ? 'all namespaces' : `namespace ${options.namespace}`}`;
    let resolveSync!: () => void;
    this.#firstSync = { promise: new Promise((resolve) => (resolveSync = resolve)), resolve: resolveSync };

    const watch = new Watch(options.kubeConfig);
    const inactivityTimeoutMs = timing.watchInactivityTimeoutMs ?? 30_000;
    const serverTimeout = timing.serverWatchTimeoutSeconds ?? 300;
    this.#supervisor = new WatchSupervisor({
      backoff: new Backoff(timing.restartBackoff),
      staleAfterMs: timing.staleAfterMs ?? 150_000,
      lastAlive: () => this.#lastAlive,
      logger,
      run: (signal) =>
        runListWatch(
          {
            api: this.#api,
            watch,
            namespace: options.namespace,
            handlers: this.#handlers(),
            inactivityTimeoutMs,
            serverTimeoutSeconds: () => Math.floor(serverTimeout * (1 + Math.random())),
            signal,
          },
          this.#state,
        ),
      onRestart: (_error, _delayMs, rebuild) => {
        metrics.configWatchRestarts.inc();
        if (rebuild) this.#state.resourceVersion = ''; // a rebuild trusts nothing: list again
      },
    });
    this.#writer = new StatusWriter({
      api: this.#api,
      metrics,
      logger,
      isLeader: () => this.#elector.isLeader,
      retryInitialMs: timing.statusRetryMs,
    });
    this.#elector = new LeaseElector({
      api: this.#api,
      namespace: options.leaseNamespace,
      identity: options.identity,
      leaseDurationMs: timing.leaseDurationMs,
      renewDeadlineMs: timing.leaseRenewDeadlineMs,
      retryPeriodMs: timing.leaseRetryPeriodMs,
      metrics,
      logger,
      onStartedLeading: () => this.#reconcileStatuses(),
    });
    this.#secretReader = new SecretReader({
      api: this.#api,
      logger,
      refreshMs: timing.secretRefreshMs,
      onChange: () => this.#reconcileStatuses(),
    });
    this.secrets = this.#secretReader;
  }

  /** Starts watching; resolves after the first full list has been delivered. Retries until then. */
  async start(deliver: (snapshot: AppSnapshot) => void): Promise<void> {
    this.#deliver = deliver;
    this.#supervisor.start();
    this.#elector.start();
    await this.#firstSync.promise;
  }

  /** Stops the watch, releases the Lease, stops writing status and reading Secrets. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#firstSync.resolve();
    this.#writer.stop();
    this.#secretReader.stop();
    await Promise.all([this.#supervisor.stop(), this.#elector.stop()]);
  }

  reportCondition(app: DarkroomApp, type: string, condition: ExtraCondition | undefined): void {
    const key = `${app.metadata.namespace ?? ''}/${app.metadata.name}`;
    const conditions = this.#extraConditions.get(key) ?? new Map<string, ExtraCondition>();
    if (condition) conditions.set(type, condition);
    else conditions.delete(type);
    if (conditions.size > 0) this.#extraConditions.set(key, conditions);
    else this.#extraConditions.delete(key);
    this.#reconcileStatuses();
  }

  #handlers(): ListWatchHandlers {
    const { metrics } = this.#options;
    return {
      replaceAll: (items) => {
        this.#objects.clear();
        for (const item of items) this.#objects.set(keyOf(item), item);
        void this.#publish({ initial: true });
      },
      upsert: (object) => {
        this.#objects.set(keyOf(object), object);
        void this.#publish({ initial: false });
      },
      remove: (object) => {
        this.#objects.delete(keyOf(object));
        this.#writer.forget(object.metadata.namespace ?? '', object.metadata.name);
        void this.#publish({ initial: false });
      },
      alive: () => {
        this.#lastAlive = Date.now();
        metrics.configWatchLastEventTimestamp.set(this.#lastAlive / 1000);
        this.#supervisor.progressed();
      },
      connected: (isConnected) => metrics.configWatchConnected.set(isConnected ? 1 : 0),
      relisted: () => metrics.configWatchRelists.inc(),
    };
  }

  /** Rebuilds the snapshot from every object known and delivers it; then reports statuses. */
  async #publish({ initial }: { initial: boolean }): Promise<void> {
    if (this.#stopped || !this.#deliver) return;
    const located: LocatedParseResult[] = [];
    for (const [key, object] of this.#objects) {
      located.push({ where: `DarkroomApp ${key}`, result: this.#parse(key, object) });
    }
    for (const key of this.#parsed.keys()) if (!this.#objects.has(key)) this.#parsed.delete(key);
    const snapshot = this.#withNamespaces(buildSnapshot(located));
    this.#snapshot = snapshot;
    this.#deliver(snapshot);
    const refs = new Set<string>();
    for (const app of snapshot.apps.values()) {
      const ref = app.spec.storage.credentialsSecretRef;
      if (ref) refs.add(`${app.metadata.namespace ?? ''}/${ref.name}`);
    }
    // On the first sync, wait (bounded by the API timeout) for the Secrets, so the first requests
    // after readiness already have credentials.
    const reading = this.#secretReader.track(refs);
    if (initial) await reading;
    this.#firstSync.resolve();
    this.#reconcileStatuses();
  }

  #parse(key: string, object: KubeObject): AppParseResult {
    const cached = this.#parsed.get(key);
    if (cached && cached.resourceVersion !== undefined && cached.resourceVersion === object.metadata.resourceVersion) return cached.result;
    const result = parseDarkroomApp(object);
    this.#parsed.set(key, { resourceVersion: object.metadata.resourceVersion, result });
    return result;
  }

  /** Puts the namespace on every report; a name claimed in several namespaces names them all. */
  #withNamespaces(snapshot: AppSnapshot): AppSnapshot {
    const invalid = new Map<string, InvalidAppReport>();
    for (const [name, report] of snapshot.invalid) {
      const namespaces = [...this.#objects.values()].filter((object) => object.metadata.name === name).map((object) => object.metadata.namespace ?? '');
      const unique = [...new Set(namespaces)].sort();
      const problems =
        unique.length > 1
          ? [{ path: 'metadata.name', message: `the app name "${name}" is claimed in namespaces ${unique.join(', ')}; none is served until only one remains` }]
          : report.problems;
      invalid.set(name, { ...report, namespace: unique.join(', ') || report.namespace, problems });
    }
    return Object.freeze({ ...snapshot, invalid });
  }

  #verdict(key: string, object: KubeObject): AppVerdict | undefined {
    const parsed = this.#parsed.get(key)?.result;
    if (!parsed) return undefined;
    if (!parsed.ok) return { ready: false, reason: 'InvalidSpec', problems: parsed.problems };
    const conflict = this.#snapshot?.invalid.get(object.metadata.name);
    if (conflict) return { ready: false, reason: 'NameConflict', problems: conflict.problems };
    const storage = parsed.app.spec.storage;
    const ref = storage.credentialsSecretRef;
    if (ref) {
      const namespace = object.metadata.namespace ?? '';
      const secret = this.#secretReader.state(namespace, ref.name);
      const path = 'spec.storage.credentialsSecretRef.name';
      if (secret.state === 'unknown') return undefined; // not read yet: report once we know
      if (secret.state === 'missing') {
        return { ready: false, reason: 'CredentialsSecretNotFound', problems: [{ path, message: `Secret "${ref.name}" not found in namespace "${namespace}"` }] };
      }
      const problems = secretProblems(storage.provider, secret.data);
      if (problems.length > 0) {
        return { ready: false, reason: 'CredentialsSecretInvalid', problems: problems.map((message) => ({ path, message: `Secret "${ref.name}": ${message}` })) };
      }
    }
    return { ready: true };
  }

  #reconcileStatuses(): void {
    if (this.#stopped || !this.#elector.isLeader) return;
    const now = new Date();
    for (const [key, object] of this.#objects) {
      const verdict = this.#verdict(key, object);
      if (!verdict) continue;
      // Extra conditions describe a served app: an app that is not Ready carries only Ready.
      const extra = verdict.ready ? [...(this.#extraConditions.get(key)?.values() ?? [])] : [];
      const desired = desiredStatus(verdict, object.metadata.generation, object.status, now, extra);
      this.#writer.reconcile(object.metadata.namespace ?? '', object.metadata.name, object.status, desired);
    }
  }
}

function keyOf(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}
