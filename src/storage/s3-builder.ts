/**
 * The builder for `storage.provider: s3`. Credentials come from the SDK's default chain (the
 * pod's ambient identity), or, when the app names a `credentialsSecretRef`, from that Secret's
 * `accessKeyId` / `secretAccessKey` (/ `sessionToken`) as read by the Kubernetes source. Without
 * that source or that Secret the app is refused with a clear message rather than run on the
 * wrong identity.
 */
import { s3CredentialsFromSecret, secretDataFor } from './credentials.js';
import { createS3Client } from './s3-client.js';
import { S3StorageProvider } from './s3-storage-provider.js';
import type { StorageProviderBuilder } from './storage-providers.js';

export const buildS3StorageProvider: StorageProviderBuilder = (storage, defaults, context) => {
  // Throws APP_CONFIG_INVALID (no Kubernetes source, no such Secret, missing keys).
  const credentials = storage.credentialsSecretRef
    ? s3CredentialsFromSecret(secretDataFor(storage, context.namespace, defaults.secrets))
    : undefined;
  const endpoint = storage.endpoint ?? defaults.s3Endpoint;
  const client = createS3Client({ region: storage.region, endpoint, forcePathStyle: storage.forcePathStyle, credentials });
  const onFallback = defaults.onPresignFallback;
  return new S3StorageProvider(client, storage.bucket, onFallback ? { onFallback: (reason, error) => onFallback(context.app, reason, error) } : {});
};
