/** The storage contract, run against the S3 provider on the embedded S3 (s3rver behind the SigV4 verifier). */
import { randomBytes } from 'node:crypto';
import { startEmbeddedS3 } from '../../src/devstorage/embedded-s3.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { S3StorageProvider } from '../../src/storage/s3-storage-provider.js';
import { deadEndpoint, describeStorageProviderContract } from './storage-provider.contract.js';

describeStorageProviderContract({
  name: 's3 (embedded s3rver)',
  async start() {
    const bucket = 'contract-s3';
    const credentials = { accessKeyId: `CONTRACT${randomBytes(4).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
    const s3 = await startEmbeddedS3({ bucket, credentials });
    const client = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials });
    const deadClient = createS3Client({ region: 'us-east-1', endpoint: await deadEndpoint(), forcePathStyle: true, credentials });
    return {
      provider: new S3StorageProvider(client, bucket),
      unavailable: new S3StorageProvider(deadClient, bucket),
      at: (endpoint, bodyIdleTimeoutMs) =>
        new S3StorageProvider(createS3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials }), bucket, { bodyIdleTimeoutMs }),
      async close() {
        client.destroy();
        deadClient.destroy();
        await s3.close();
      },
    };
  },
});
