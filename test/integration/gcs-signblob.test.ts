/**
 * Signing without a private key (workload identity): the library signs through IAM Credentials
 * signBlob, here the emulator's, which signs with the test key. The URL it yields must pass the
 * emulator's independent V4 verification; a failing or stalled signBlob must become a bounded
 * STORAGE_UNAVAILABLE.
 */
import { OAuth2Client } from 'google-auth-library';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGcsStorageProvider } from '../../src/storage/gcs-builder.js';
import type { GcsStorageProvider } from '../../src/storage/gcs-storage-provider.js';
import { bytesOf, newKey, putWith, request } from '../contract/storage-provider.contract.js';
import { startGcsEmulator, testServiceAccount, type GcsEmulator } from '../support/gcs-emulator.js';

const bucket = 'signblob-bucket';
const account = testServiceAccount('workload@darkroom-test.iam.gserviceaccount.com');
const signTimeoutMs = 500;
let emulator: GcsEmulator;
let provider: GcsStorageProvider;

/** A key-less identity holding only an access token, as a pod with workload identity has. */
function tokenOnlyClient(token: string): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 });
  return client;
}

beforeAll(async () => {
  emulator = await startGcsEmulator({
    buckets: [bucket],
    publicKeys: new Map([[account.clientEmail, account.publicKey]]),
    signBlobKeys: new Map([[account.clientEmail, account.privateKey]]),
    accessToken: 'workload-token',
  });
  provider = createGcsStorageProvider({
    bucket,
    endpoint: emulator.endpoint,
    identity: { kind: 'auth-client', clientEmail: account.clientEmail, authClient: tokenOnlyClient('workload-token') },
    signingEndpoint: emulator.signingEndpoint,
    signTimeoutMs,
  });
});

afterAll(async () => {
  await emulator?.close();
});

beforeEach(() => {
  emulator.signBlobMode = { kind: 'sign' };
  emulator.signBlobCalls = 0;
});

describe('GCS signing through IAM signBlob', () => {
  it('signs through signBlob; the emulator verifies the URL and stores the upload', async () => {
    const key = newKey();
    const body = randomBytes(512);
    const upload = await provider.presignUpload(request(key, body.length));
    expect(emulator.signBlobCalls).toBe(1);
    expect(new URL(upload.url).searchParams.get('X-Goog-Credential')).toMatch(/^workload@darkroom-test\.iam\.gserviceaccount\.com\//);
    expect((await putWith(upload, body)).status).toBe(200);
    expect((await bytesOf((await provider.openRead(key)).body)).equals(body)).toBe(true);
  });

  it('a signature from another key fails verification (the emulator does check signBlob output)', async () => {
    const impostor = testServiceAccount(account.clientEmail);
    const emulatorWithOtherKey = await startGcsEmulator({
      buckets: [bucket],
      publicKeys: new Map([[account.clientEmail, account.publicKey]]),
      signBlobKeys: new Map([[account.clientEmail, impostor.privateKey]]),
      accessToken: 'workload-token',
    });
    try {
      const other = createGcsStorageProvider({
        bucket,
        endpoint: emulatorWithOtherKey.endpoint,
        identity: { kind: 'auth-client', clientEmail: account.clientEmail, authClient: tokenOnlyClient('workload-token') },
        signingEndpoint: emulatorWithOtherKey.signingEndpoint,
      });
      const upload = await other.presignUpload(request(newKey(), 10));
      expect((await putWith(upload, randomBytes(10))).status).toBe(403);
    } finally {
      await emulatorWithOtherKey.close();
    }
  });

  it.each([
    ['refused (403 PERMISSION_DENIED: the role is missing)', { kind: 'fail', status: 403 } as const],
    ['failing (503)', { kind: 'fail', status: 503 } as const],
    ['stalled (never answers)', { kind: 'stall' } as const],
  ])('signBlob %s → STORAGE_UNAVAILABLE within the sign timeout', async (_label, mode) => {
    emulator.signBlobMode = mode;
    const started = Date.now();
    await expect(provider.presignUpload(request(newKey(), 10))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    // The deadline bounds the wait whatever the library's own retries do (plus scheduling slack).
    expect(Date.now() - started).toBeLessThan(signTimeoutMs + 1_000);
    expect(emulator.signBlobCalls).toBeGreaterThanOrEqual(1);
  });

  it('a wrong access token is refused by signBlob → STORAGE_UNAVAILABLE', async () => {
    const wrongToken = createGcsStorageProvider({
      bucket,
      endpoint: emulator.endpoint,
      identity: { kind: 'auth-client', clientEmail: account.clientEmail, authClient: tokenOnlyClient('stolen-token') },
      signingEndpoint: emulator.signingEndpoint,
      signTimeoutMs,
    });
    await expect(wrongToken.presignUpload(request(newKey(), 10))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
  });
});
