/**
 * One storage provider per app, built on first use and rebuilt only when the app's storage spec
 * changes. Which class serves which `storage.provider` is decided here, by a table of builders,
 * so no other module branches on the provider name.
 */
import { isDeepStrictEqual } from 'node:util';
import type { DarkroomApp, DarkroomAppSpec } from '../config/darkroom-app.js';
import { darkroomError } from '../core/errors.js';
import type { SecretCredentialsLookup } from './credentials.js';
import type { PresignFallbackReason } from './s3-presigner.js';
import type { StorageProvider } from './storage-provider.js';

/** Settings shared by every app's provider. */
export interface StorageDefaults {
  /** Endpoint for S3 apps that name none (`DARKROOM_S3_ENDPOINT`). */
  readonly s3Endpoint: string | undefined;
  /** Credentials Secrets read by the Kubernetes source; absent outside a cluster. */
  readonly secrets?: SecretCredentialsLookup | undefined;
  /** Told when an app's S3 signer falls back to `getSignedUrl` (for a log line and a metric). */
  readonly onPresignFallback?: ((app: string, reason: PresignFallbackReason, error?: unknown) => void) | undefined;
}

/** Per-app facts a builder may need beyond the storage spec. */
export interface StorageBuildContext {
  /** The app's namespace (where its `credentialsSecretRef` Secret lives); undefined from a file. */
  readonly namespace: string | undefined;
  /** The app's name, for what the provider reports. */
  readonly app: string;
}

/** Builds the provider for one app's storage spec. */
export type StorageProviderBuilder = (
  storage: DarkroomAppSpec['storage'],
  defaults: StorageDefaults,
  context: StorageBuildContext,
) => StorageProvider;

/** Gives each app its storage provider. */
export interface StorageProviders {
  forApp(app: DarkroomApp): StorageProvider;
}

export class CachedStorageProviders implements StorageProviders {
  readonly #cache = new Map<
    string,
    { storage: DarkroomAppSpec['storage']; namespace: string | undefined; secretVersion: string | undefined; provider: StorageProvider }
  >();

  /** Replaced or dropped providers in their grace period, by the timer that will close them. */
  readonly #retiring = new Map<NodeJS.Timeout, StorageProvider>();
  readonly #closeGraceMs: number;

  /**
   * @param options.closeGraceMs how long a replaced or dropped provider keeps its connections for
   *   the reads still streaming through it, in ms (default 60 000); then it is closed
   */
  constructor(
    private readonly builders: Readonly<Partial<Record<DarkroomAppSpec['storage']['provider'], StorageProviderBuilder>>>,
    private readonly defaults: StorageDefaults,
    options: { closeGraceMs?: number } = {},
  ) {
    this.#closeGraceMs = options.closeGraceMs ?? 60_000;
  }

  forApp(app: DarkroomApp): StorageProvider {
    const name = app.metadata.name;
    const storage = app.spec.storage;
    const namespace = app.metadata.namespace;
    // A rotated credentials Secret (new resourceVersion) rebuilds the provider with the new keys.
    const secretRef = storage.credentialsSecretRef;
    const secretVersion = secretRef && namespace !== undefined ? this.defaults.secrets?.version(namespace, secretRef.name) : undefined;
    const cached = this.#cache.get(name);
    if (cached && cached.namespace === namespace && cached.secretVersion === secretVersion) {
      // Snapshots are immutable: the same spec object is the same spec. A reloaded snapshot brings
      // new objects; an unchanged one is adopted, so later requests take the identity check again.
      if (cached.storage === storage) return cached.provider;
      if (isDeepStrictEqual(cached.storage, storage)) {
        cached.storage = storage;
        return cached.provider;
      }
    }
    const builder = this.builders[storage.provider];
    if (!builder) {
      throw darkroomError('APP_CONFIG_INVALID', {
        message: `Storage provider "${storage.provider}" is not available in this darkroom build.`,
      });
    }
    const provider = builder(storage, this.defaults, { namespace, app: name });
    if (cached) this.#retire(cached.provider);
    this.#cache.set(name, { storage, namespace, secretVersion, provider });
    return provider;
  }

  /** Forgets (and, after the grace period, closes) providers of apps that are no longer served. */
  retain(appNames: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const [name, entry] of this.#cache) {
      if (appNames.has(name)) continue;
      this.#cache.delete(name);
      this.#retire(entry.provider);
    }
  }

  /** Closes every provider at once (shutdown), those in their grace period included. */
  close(): void {
    for (const [timer, provider] of this.#retiring) {
      clearTimeout(timer);
      provider.close();
    }
    this.#retiring.clear();
    for (const entry of this.#cache.values()) entry.provider.close();
    this.#cache.clear();
  }

  /** A replaced provider may still stream a body: close it once that had time to end. */
  #retire(provider: StorageProvider): void {
    const timer = setTimeout(() => {
      this.#retiring.delete(timer);
      provider.close();
    }, this.#closeGraceMs);
    timer.unref();
    this.#retiring.set(timer, provider);
  }
}
