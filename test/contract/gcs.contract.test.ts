/**
 * The storage contract, run against the GCS provider on the in-process GCS emulator, which
 * verifies V4 signatures with the service account's public key. Signed with a local key here;
 * `test/unit/gcs-signblob.test.ts` covers signing through IAM signBlob.
 */
import { createGcsStorageProvider } from '../../src/storage/gcs-builder.js';
import { startGcsEmulator, testServiceAccount } from '../support/gcs-emulator.js';
import { deadEndpoint, describeStorageProviderContract } from './storage-provider.contract.js';

describeStorageProviderContract({
  name: 'gcs (emulator)',
  async start() {
    const bucket = 'contract-gcs';
    const account = testServiceAccount();
    const emulator = await startGcsEmulator({ buckets: [bucket], publicKeys: new Map([[account.clientEmail, account.publicKey]]) });
    const identity = { kind: 'service-account', clientEmail: account.clientEmail, privateKey: account.privateKeyPem } as const;
    return {
      provider: createGcsStorageProvider({ bucket, endpoint: emulator.endpoint, identity }),
      unavailable: createGcsStorageProvider({ bucket, endpoint: await deadEndpoint(), identity }),
      at: (endpoint, bodyIdleTimeoutMs) => createGcsStorageProvider({ bucket, endpoint, identity, bodyIdleTimeoutMs }),
      close: () => emulator.close(),
    };
  },
});
