/**
 * A config source delivers whole snapshots of the apps it knows. Implementations: a YAML file of
 * DarkroomApp documents (`sources/file-source.ts`) and, in a cluster, the Kubernetes watch.
 */
import type { SecretCredentialsLookup } from '../storage/credentials.js';
import type { AppSnapshot } from './app-registry.js';
import type { DarkroomApp } from './darkroom-app.js';
import type { ExtraCondition } from './sources/kubernetes/app-status.js';

export interface ConfigSource {
  /** Human description for logs, e.g. `file examples/apps.yaml`. */
  readonly description: string;
  /**
   * Starts delivering snapshots to `deliver`. Resolves once the first full snapshot has been
   * delivered; rejects when the source cannot produce one (the process should not start then).
   */
  start(deliver: (snapshot: AppSnapshot) => void): Promise<void>;
  /** Stops watching; no snapshot is delivered after it resolves. */
  stop(): Promise<void>;
  /** Credentials Secrets the source reads (the Kubernetes source); absent for a file. */
  readonly secrets?: SecretCredentialsLookup;
  /**
   * Reports a condition of `type` besides `Ready` (e.g. `CORSReady`) in the app's `.status`;
   * `undefined` removes it. Absent for a file, where such verdicts go to the log only.
   */
  reportCondition?(app: DarkroomApp, type: string, condition: ExtraCondition | undefined): void;
}
