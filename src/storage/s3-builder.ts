/**
 * The builder for `storage.provider: s3`. Credentials come from the SDK's default chain (the
 * pod's ambient identity); a `credentialsSecretRef` needs the Kubernetes source to resolve it, so
 * until one is wired in such an app is refused with a clear message rather than run on the
 * wrong identity.
 */
import { darkroomError } from '../core/errors.js';
import { createS3Client } from './s3-client.js';
import { S3StorageProvider } from './s3-storage-provider.js';
import type { StorageProviderBuilder } from './storage-providers.js';

export const buildS3StorageProvider: StorageProviderBuilder = (storage, defaults) => {
  if (storage.credentialsSecretRef) {
    throw darkroomError('APP_CONFIG_INVALID', {
      message: 'storage.credentialsSecretRef needs the Kubernetes config source to resolve the Secret.',
    });
  }
  const endpoint = storage.endpoint ?? defaults.s3Endpoint;
  const client = createS3Client({ region: storage.region, endpoint, forcePathStyle: storage.forcePathStyle });
  return new S3StorageProvider(client, storage.bucket);
};
