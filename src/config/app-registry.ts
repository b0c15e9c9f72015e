/**
 * The app registry: the only view of configuration the rest of darkroom reads. A config source
 * (a YAML file, the Kubernetes watch) hands it whole snapshots; each one replaces the previous
 * table atomically, so a request never sees half of an update.
 */
import type { DarkroomApp, SpecProblem } from './darkroom-app.js';

/**
 * Why a document is not served (the `Ready=False` reason in its `.status`): its spec is invalid;
 * another namespace's older document holds its name; it names storage its namespace may not use
 * with darkroom's own identity; or (Kubernetes) a Secret it names cannot be used.
 */
export type RefusalReason =
  /** The spec failed validation (it slipped past the CRD schema, or the CRD is older). */
  | 'InvalidSpec'
  /** An older DarkroomApp in another namespace holds the same app name (the message names it). */
  | 'NameConflict'
  /** The app signs with darkroom's own identity outside its namespace's allowed buckets/prefixes. */
  | 'StorageNotAllowed'
  /** `auth.jwt.jwksSecretRef` names a Secret that does not exist (or has no key `jwks`). */
  | 'JwksSecretNotFound'
  /** The JWKS Secret's `jwks` key does not hold a JWKS. */
  | 'JwksSecretInvalid'
  /** The JWKS Secret could not be read (403: darkroom's Role lacks get on it; or an API error). */
  | 'JwksSecretUnreadable'
  /** `storage.credentialsSecretRef` names a Secret that does not exist. */
  | 'CredentialsSecretNotFound'
  /** The Secret exists but lacks the keys the provider needs. */
  | 'CredentialsSecretInvalid'
  /** darkroom may not read the Secret (403: its Role lacks get on it). */
  | 'CredentialsSecretForbidden'
  /** The Secret could not be read for another reason (API error, no answer) and was never read before. */
  | 'CredentialsSecretUnreadable';

/** An app that failed validation: refused by the service and reported, never half-applied. */
export interface InvalidAppReport {
  readonly name: string;
  readonly namespace: string | undefined;
  readonly reason: RefusalReason;
  readonly problems: readonly SpecProblem[];
}

/** Everything one config source knows at one moment. */
export interface AppSnapshot {
  readonly apps: ReadonlyMap<string, DarkroomApp>;
  readonly invalid: ReadonlyMap<string, InvalidAppReport>;
  /** Documents so broken that not even their name could be read. */
  readonly unnamedInvalid: readonly UnnamedInvalidDocument[];
  /**
   * Every named document that is not served, keyed `namespace/name`, with why: the invalid ones
   * above and also those whose name another document holds (for `.status` and the logs).
   */
  readonly refused: ReadonlyMap<string, InvalidAppReport>;
}

/** A document without a readable name, reported by where it was found. */
export interface UnnamedInvalidDocument {
  /** E.g. `examples/apps.yaml document 3`. */
  readonly where: string;
  readonly problems: readonly SpecProblem[];
}

/** What the registry knows of one app name. */
export type AppLookup =
  | { readonly state: 'served'; readonly app: DarkroomApp }
  | { readonly state: 'invalid'; readonly report: InvalidAppReport }
  | { readonly state: 'unknown' };

const emptySnapshot: AppSnapshot = Object.freeze({
  apps: new Map(),
  invalid: new Map(),
  unnamedInvalid: [],
  refused: new Map(),
});

export class AppRegistry {
  #snapshot: AppSnapshot = emptySnapshot;
  #synced = false;
  readonly #listeners = new Set<(snapshot: AppSnapshot, previous: AppSnapshot) => void>();

  /** Looks an app up by the name used in URLs. */
  lookup(name: string): AppLookup {
    const app = this.#snapshot.apps.get(name);
    if (app) return { state: 'served', app };
    const report = this.#snapshot.invalid.get(name);
    if (report) return { state: 'invalid', report };
    return { state: 'unknown' };
  }

  /** The current snapshot (immutable). */
  get snapshot(): AppSnapshot {
    return this.#snapshot;
  }

  /** True once a source delivered its first full snapshot. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Swaps in a new snapshot and tells the listeners (logs, metrics, per-app caches). */
  replace(snapshot: AppSnapshot): void {
    const previous = this.#snapshot;
    this.#snapshot = snapshot;
    this.#synced = true;
    for (const listener of this.#listeners) listener(snapshot, previous);
  }

  /** Calls `listener` after every replace. Returns a function that removes it. */
  onChange(listener: (snapshot: AppSnapshot, previous: AppSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
