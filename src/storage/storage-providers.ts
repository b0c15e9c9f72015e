/**
 * One storage provider per app, built on first use and rebuilt only when the app's storage spec
 * changes. Which class serves which `storage.provider` is decided here, by a table of builders,
 * so no other module branches on the provider name.
 */
import { isDeepStrictEqual } from 'node:util';
import type { DarkroomApp, DarkroomAppSpec } from '../config/darkroom-app.js';
import { darkroomError } from '../core/errors.js';
import type { StorageProvider } from './storage-provider.js';

/** Settings shared by every app's provider. */
export interface StorageDefaults {
  /** Endpoint for S3 apps that name none (`DARKROOM_S3_ENDPOINT`). */
  readonly s3Endpoint: string | undefined;
}

/** Builds the provider for one app's storage spec. */
export type StorageProviderBuilder = (
  storage: DarkroomAppSpec['storage'],
  defaults: StorageDefaults,
) => StorageProvider;

/** Gives each app its storage provider. */
export interface StorageProviders {
  forApp(app: DarkroomApp): StorageProvider;
}

export class CachedStorageProviders implements StorageProviders {
  readonly #cache = new Map<string, { storage: DarkroomAppSpec['storage']; provider: StorageProvider }>();

  constructor(
    private readonly builders: Readonly<Partial<Record<DarkroomAppSpec['storage']['provider'], StorageProviderBuilder>>>,
    private readonly defaults: StorageDefaults,
  ) {}

  forApp(app: DarkroomApp): StorageProvider {
    const name = app.metadata.name;
    const storage = app.spec.storage;
    const cached = this.#cache.get(name);
    if (cached && isDeepStrictEqual(cached.storage, storage)) return cached.provider;
    const builder = this.builders[storage.provider];
    if (!builder) {
      throw darkroomError('APP_CONFIG_INVALID', {
        message: `Storage provider "${storage.provider}" is not available in this darkroom build.`,
      });
    }
    const provider = builder(storage, this.defaults);
    this.#cache.set(name, { storage, provider });
    return provider;
  }

  /** Forgets providers of apps that are no longer served. */
  retain(appNames: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const name of this.#cache.keys()) if (!appNames.has(name)) this.#cache.delete(name);
  }
}
