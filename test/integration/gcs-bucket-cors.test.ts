/**
 * The bucket CORS check for GCS apps, against the GCS emulator's bucket resource (`cors`): the
 * rules read, the verdict with the headers the GCS presigner signs (`x-goog-content-length-range`
 * among them, which a rule must list in `responseHeader`), and a 403 reported as forbidden.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corsVerdict, preflightHeaders } from '../../src/core/bucket-cors.js';
import { createGcsStorageProvider } from '../../src/storage/gcs-builder.js';
import type { GcsStorageProvider } from '../../src/storage/gcs-storage-provider.js';
import { startGcsEmulator, testServiceAccount, type GcsEmulator } from '../support/gcs-emulator.js';

const bucket = 'cors-bucket';
const origin = 'https://app.example.test';
const account = testServiceAccount();
let emulator: GcsEmulator;
let provider: GcsStorageProvider;

beforeAll(async () => {
  emulator = await startGcsEmulator({ buckets: [bucket], publicKeys: new Map([[account.clientEmail, account.publicKey]]) });
  provider = createGcsStorageProvider({ bucket, endpoint: emulator.endpoint, identity: { kind: 'service-account', clientEmail: account.clientEmail, privateKey: account.privateKeyPem } });
});
afterAll(async () => {
  await emulator?.close();
});

async function requirement() {
  const probe = await provider.presignUpload({ key: 'probe.jpg', contentType: 'image/jpeg', contentLength: 1, maxBytes: 100, expiresInSeconds: 60 });
  return { origins: [origin], method: 'PUT' as const, headers: preflightHeaders(probe.headers) };
}

describe('GCS bucket cors', () => {
  it('reads no configuration as NoCORSConfiguration', async () => {
    emulator.bucketCors.delete(bucket);
    expect(await provider.readCorsRules()).toEqual({ state: 'none' });
  });

  it('requires the signed x-goog-content-length-range and x-goog-if-generation-match in responseHeader, and passes once they are there', async () => {
    const needed = await requirement();
    expect(needed.headers).toEqual(['content-type', 'x-goog-content-length-range', 'x-goog-if-generation-match']);
    emulator.bucketCors.set(bucket, [{ origin: [origin], method: ['PUT'], responseHeader: ['Content-Type'], maxAgeSeconds: 3600 }]);
    const partial = await provider.readCorsRules();
    expect(partial).toEqual({ state: 'rules', rules: [{ origins: [origin], methods: ['PUT'], headers: ['Content-Type'] }] });
    expect(corsVerdict(partial, needed).message).toContain('does not allow headers x-goog-content-length-range, x-goog-if-generation-match');
    emulator.bucketCors.set(bucket, [{ origin: [origin], method: ['PUT'], responseHeader: ['Content-Type', 'x-goog-content-length-range', 'ETag'] }]);
    expect(corsVerdict(await provider.readCorsRules(), needed).message).toContain('does not allow header x-goog-if-generation-match');
    emulator.bucketCors.set(bucket, [{ origin: [origin], method: ['PUT'], responseHeader: ['Content-Type', 'x-goog-content-length-range', 'x-goog-if-generation-match', 'ETag'] }]);
    expect(corsVerdict(await provider.readCorsRules(), needed)).toMatchObject({ status: 'True', reason: 'CORSRulesMatch' });
  });

  it('reports a 403 as forbidden', async () => {
    emulator.bucketMetadataForbidden = true;
    try {
      expect(await provider.readCorsRules()).toEqual({ state: 'forbidden', detail: 'buckets.get: HTTP 403' });
    } finally {
      emulator.bucketMetadataForbidden = false;
    }
  });
});
