/**
 * The Kubernetes config source: watches `DarkroomApp` resources (one namespace, or all) and hands
 * the registry a whole new snapshot after every event. Level-based (controller-runtime's
 * reconcile model): each event replaces the whole object, the snapshot is rebuilt from every
 * object known, and nothing is computed from diffs. The watch is supervised (restart with backoff,
 * stale rebuild); on losing the API server the last snapshot keeps serving. The elected replica
 * reports each app's verdict in its `status`; credentials Secrets are read and kept fresh.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { DarkroomMetrics } from '../../../metrics/metrics.js';
import { secretProblems, type SecretCredentialsLookup } from '../../../storage/credentials.js';
import type { AppSnapshot, InvalidAppReport } from '../../app-registry.js';
import type { ConfigSource } from '../../config-source.js';
import { parseDarkroomApp, type AppParseResult, type DarkroomApp } from '../../darkroom-app.js';
import { buildSnapshot, type LocatedParseResult } from '../../snapshot.js';
import { desiredStatus, type AppVerdict } from './app-status.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { ClientNodeKubeApi, type KubeApi, type KubeObject } from './kube-api.js';
import { LeaseElector } from './lease-elector.js';
import { createWatch, runListWatch, type ListWatchHandlers, type ListWatchState } from './list-watch.js';
import { SecretReader } from './secret-reader.js';
import { StatusWriter } from './status-writer.js';
import { WatchSupervisor } from './watch-supervisor.js';

/** Timings; the defaults suit production, tests shorten them. */
export interface KubernetesSourceTiming {
  /**
   * A watch with no event or bookmark for this long is reconnected, in ms. Default 150 000: a real
   * API server bookmarks a quiet watch about once a minute, so this tolerates one lost bookmark.
   */
  readonly watchInactivityTimeoutMs?: number;
  /** A watch whose response headers take longer than this is a stall, in ms. Default 10 000. */
  readonly watchConnectTimeoutMs?: number;
  /** Nothing at all from the API server for this long rebuilds the watch with a re-list, in ms. Default 300 000. */
  readonly staleAfterMs?: number;
  /** Restart backoff. Default 500 ms doubling to 30 s, 50 % jitter. */
  readonly restartBackoff?: BackoffOptions;
  /** A watch connection open this long is healthy: its failure restarts after the shortest delay, in ms. Default 10 000. */
  readonly watchHealthyAfterMs?: number;
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
  /** Names claimed by several DarkroomApps (with their report), from the last snapshot. */
  #nameConflicts: ReadonlyMap<string, InvalidAppReport> | undefined;
  /** True once the first snapshot was delivered (after the first Secret reads). */
  #synced = false;
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

    const inactivityTimeoutMs = timing.watchInactivityTimeoutMs ?? 150_000;
    const connectTimeoutMs = timing.watchConnectTimeoutMs ?? 10_000;
    const watch = createWatch(options.kubeConfig, Math.max(inactivityTimeoutMs, connectTimeoutMs));
    const serverTimeout = timing.serverWatchTimeoutSeconds ?? 300;
    this.#supervisor = new WatchSupervisor({
      backoff: new Backoff(timing.restartBackoff),
      staleAfterMs: timing.staleAfterMs ?? 300_000,
      healthyAfterMs: timing.watchHealthyAfterMs ?? 10_000,
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
            connectTimeoutMs,
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
      // A Secret that appeared, changed, vanished or became unreadable changes what is served.
      onChange: () => void this.#publish({ initial: false }),
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
      connected: (isConnected) => {
        if (isConnected) this.#supervisor.connected();
        metrics.configWatchConnected.set(isConnected ? 1 : 0);
      },
      relisted: () => metrics.configWatchRelists.inc(),
    };
  }

  /**
   * Rebuilds the snapshot from every object known and delivers it; then reports statuses. The
   * first delivery (which makes the registry synced, and /readyz 200) waits until every
   * credentials Secret named so far has been tried once, each attempt bounded by the API call
   * deadline: the first requests after readiness then find their credentials, and an app whose
   * Secret cannot be read is already refused and reported instead of failing request by request.
   */
  async #publish({ initial }: { initial: boolean }): Promise<void> {
    if (this.#stopped || !this.#deliver) return;
    const reading = this.#secretReader.track(this.#referencedSecrets());
    if (!this.#synced) {
      // Changes before the first delivery are included in it: it reads #objects after the wait.
      if (!initial) return;
      await reading;
      if (this.#stopped) return;
      this.#synced = true;
    }
    this.#deliver(this.#buildSnapshot());
    this.#firstSync.resolve();
    this.#reconcileStatuses();
  }

  /** `namespace/name` of every Secret that a valid DarkroomApp names. */
  #referencedSecrets(): Set<string> {
    const refs = new Set<string>();
    for (const [key, object] of this.#objects) {
      const parsed = this.#parse(key, object);
      const ref = parsed.ok ? parsed.app.spec.storage.credentialsSecretRef : undefined;
      if (ref) refs.add(`${object.metadata.namespace ?? ''}/${ref.name}`);
    }
    return refs;
  }

  /**
   * The snapshot of every object known. An app whose credentials Secret is missing, unusable or
   * unreadable is refused like an invalid one (APP_CONFIG_INVALID), so that what is served, the
   * `darkroom_config_app*` metrics and `.status` all say the same.
   */
  #buildSnapshot(): AppSnapshot {
    const located: LocatedParseResult[] = [];
    for (const [key, object] of this.#objects) {
      located.push({ where: `DarkroomApp ${key}`, result: this.#parse(key, object) });
    }
    for (const key of this.#parsed.keys()) if (!this.#objects.has(key)) this.#parsed.delete(key);
    const base = this.#withNamespaces(buildSnapshot(located));
    this.#nameConflicts = base.invalid;
    const apps = new Map(base.apps);
    const invalid = new Map(base.invalid);
    for (const [name, app] of base.apps) {
      const verdict = this.#credentialsVerdict(app);
      if (verdict === 'unknown' || verdict.ready) continue;
      apps.delete(name);
      invalid.set(name, { name, namespace: app.metadata.namespace, problems: verdict.problems });
    }
    return Object.freeze({ ...base, apps, invalid });
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
    const conflict = this.#nameConflicts?.get(object.metadata.name);
    if (conflict) return { ready: false, reason: 'NameConflict', problems: conflict.problems };
    const verdict = this.#credentialsVerdict(parsed.app);
    return verdict === 'unknown' ? undefined : verdict; // not read yet: report once we know
  }

  /** Whether the app's credentials Secret (if it names one) is usable; `unknown` before its first read. */
  #credentialsVerdict(app: DarkroomApp): AppVerdict | 'unknown' {
    const storage = app.spec.storage;
    const ref = storage.credentialsSecretRef;
    if (!ref) return { ready: true };
    const namespace = app.metadata.namespace ?? '';
    const secret = this.#secretReader.state(namespace, ref.name);
    const path = 'spec.storage.credentialsSecretRef.name';
    switch (secret.state) {
      case 'unknown':
        return 'unknown';
      case 'missing':
        return { ready: false, reason: 'CredentialsSecretNotFound', problems: [{ path, message: `Secret "${ref.name}" not found in namespace "${namespace}"` }] };
      case 'unreadable':
        return secret.status === 403
          ? {
              ready: false,
              reason: 'CredentialsSecretForbidden',
              problems: [{ path, message: `darkroom may not read Secret "${ref.name}" in namespace "${namespace}" (403 Forbidden): its Role needs get on this Secret (Helm value rbac.secretNames)` }],
            }
          : {
              ready: false,
              reason: 'CredentialsSecretUnreadable',
              problems: [{ path, message: `Secret "${ref.name}" in namespace "${namespace}" could not be read (${secret.status > 0 ? `HTTP ${secret.status}` : 'no answer from the API server'}); retried every refresh interval` }],
            };
      case 'present': {
        const problems = secretProblems(storage.provider, secret.data);
        if (problems.length === 0) return { ready: true };
        return { ready: false, reason: 'CredentialsSecretInvalid', problems: problems.map((message) => ({ path, message: `Secret "${ref.name}": ${message}` })) };
      }
    }
  }

  #reconcileStatuses(): void {
    // Before the first snapshot the verdicts are incomplete (name conflicts, Secrets): report none.
    if (this.#stopped || !this.#synced || !this.#elector.isLeader) return;
    const now = new Date();
    for (const [key, object] of this.#objects) {
      const verdict = this.#verdict(key, object);
      if (!verdict) continue;
      const desired = desiredStatus(verdict, object.metadata.generation, object.status, now);
      this.#writer.reconcile(object.metadata.namespace ?? '', object.metadata.name, object.status, desired, object.metadata.resourceVersion);
    }
  }
}

function keyOf(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}
