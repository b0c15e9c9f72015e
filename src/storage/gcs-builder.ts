/**
 * The builder for `storage.provider: gcs`, and the factory it (and tests) build providers with.
 *
 * Credentials: the ambient identity (Application Default Credentials) by default, or the
 * service-account JSON key under `serviceAccountKey` in the app's `credentialsSecretRef` Secret
 * (read by the Kubernetes source, through `credentials.ts`). An app whose Secret cannot be resolved
 * is refused with a clear message rather than run on the wrong identity.
 */
import type { DarkroomAppSpec } from '../config/darkroom-app.js';
import { gcsCredentialsFromSecret, secretDataFor, type SecretCredentialsLookup } from './credentials.js';
import { createGcsStorage, type GcsClientOptions, type GcsIdentity } from './gcs-client.js';
import { GcsObjectReader } from './gcs-object-reader.js';
import { GcsStorageProvider, type GcsProviderOptions } from './gcs-storage-provider.js';
import type { StorageProviderBuilder } from './storage-providers.js';

/** Everything one GCS provider needs. */
export interface GcsStorageProviderOptions extends GcsClientOptions, GcsProviderOptions {
  readonly bucket: string;
  /** Longest pause between two body chunks of a read before it is cut, in ms. Default 15 000. */
  readonly bodyIdleTimeoutMs?: number;
}

export function createGcsStorageProvider(options: GcsStorageProviderOptions): GcsStorageProvider {
  const storage = createGcsStorage(options);
  // Reads carry the identity's token where the library's would: Google's endpoint or an https one.
  const authenticated = !storage.customEndpoint || storage.apiEndpoint.startsWith('https:');
  const reader = new GcsObjectReader({
    apiEndpoint: storage.apiEndpoint,
    bucket: options.bucket,
    auth: authenticated ? storage.authClient : undefined,
    ...(options.bodyIdleTimeoutMs !== undefined ? { bodyIdleTimeoutMs: options.bodyIdleTimeoutMs } : {}),
  });
  return new GcsStorageProvider(storage.bucket(options.bucket), reader, options);
}

export const buildGcsStorageProvider: StorageProviderBuilder = (storage, defaults, context) => {
  // Throws APP_CONFIG_INVALID for a Secret that cannot be read or used (no Kubernetes source included).
  const identity = gcsIdentityFor(storage, context.namespace, defaults.secrets);
  return createGcsStorageProvider({ bucket: storage.bucket, endpoint: storage.endpoint, identity });
};

/**
 * The identity an app's GCS provider runs as: the ambient identity, or the service-account key in
 * the app's credentials Secret (`serviceAccountKey`). Throws APP_CONFIG_INVALID when the app names
 * a Secret that cannot be read or used; never falls back to the ambient identity.
 */
export function gcsIdentityFor(
  storage: DarkroomAppSpec['storage'],
  namespace: string | undefined,
  secrets: SecretCredentialsLookup | undefined,
): GcsIdentity {
  if (!storage.credentialsSecretRef) return { kind: 'ambient' };
  const key = gcsCredentialsFromSecret(secretDataFor(storage, namespace, secrets));
  return { kind: 'service-account', clientEmail: key.client_email, privateKey: key.private_key };
}
