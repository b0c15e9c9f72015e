/**
 * GCS-specific behaviour beyond the shared contract, against the emulator: what the signed URL
 * binds (host, path, TTL, headers, length range), expiry, the range semantics, aborts, and the
 * builder's handling of identities and Secrets.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { darkroomAppSchema } from '../../src/config/darkroom-app.js';
import { isDarkroomError } from '../../src/core/errors.js';
import { buildGcsStorageProvider, createGcsStorageProvider, gcsIdentityFor } from '../../src/storage/gcs-builder.js';
import type { SecretCredentialsLookup } from '../../src/storage/credentials.js';
import { GcsStorageProvider } from '../../src/storage/gcs-storage-provider.js';
import { CachedStorageProviders } from '../../src/storage/storage-providers.js';
import { bytesOf, newKey, putWith, request } from '../contract/storage-provider.contract.js';
import { startGcsEmulator, testServiceAccount, type GcsEmulator } from '../support/gcs-emulator.js';

const bucket = 'provider-bucket';
const account = testServiceAccount();
const identity = { kind: 'service-account', clientEmail: account.clientEmail, privateKey: account.privateKeyPem } as const;
let emulator: GcsEmulator;
let provider: GcsStorageProvider;

beforeAll(async () => {
  emulator = await startGcsEmulator({ buckets: [bucket], publicKeys: new Map([[account.clientEmail, account.publicKey]]) });
  provider = createGcsStorageProvider({ bucket, endpoint: emulator.endpoint, identity });
});

afterAll(async () => {
  await emulator?.close();
});

describe('GCS signed upload URLs', () => {
  it('point at the endpoint, bind key, type and the app limit, and last the TTL', async () => {
    const key = 'uploads/0123-photo.png';
    const upload = await provider.presignUpload({ key, contentType: 'image/png', contentLength: 10, maxBytes: 2048, expiresInSeconds: 900 });
    const url = new URL(upload.url);
    expect(`${url.protocol}//${url.host}`).toBe(emulator.endpoint);
    expect(url.pathname).toBe(`/${bucket}/uploads/0123-photo.png`);
    expect(url.searchParams.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
    expect(url.searchParams.get('X-Goog-Expires')).toBe('900');
    expect(url.searchParams.get('X-Goog-SignedHeaders')).toBe('content-type;host;x-goog-content-length-range;x-goog-if-generation-match');
    expect(upload.headers).toEqual({ 'Content-Type': 'image/png', 'x-goog-content-length-range': '0,2048', 'x-goog-if-generation-match': '0' });
    const signedAt = Date.parse(url.searchParams.get('X-Goog-Date')!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    expect(upload.expiresAt.getTime()).toBe(signedAt + 900_000);
  });

  it('default to storage.googleapis.com when the app names no endpoint (signing is local: no request made)', async () => {
    const google = createGcsStorageProvider({ bucket, identity });
    const upload = await google.presignUpload(request('a b/ü.png', 10));
    expect(upload.url.startsWith(`https://storage.googleapis.com/${bucket}/a%20b/%C3%BC.png?`)).toBe(true);
  });

  it('stop working after the TTL: storage refuses an expired URL', async () => {
    const key = newKey();
    const upload = await provider.presignUpload(request(key, 10, { expiresInSeconds: 60 }));
    emulator.clockOffsetMs = 61_000;
    try {
      const put = await putWith(upload, randomBytes(10));
      expect(put.status).toBe(400);
    } finally {
      emulator.clockOffsetMs = 0;
    }
    await expect(provider.head(key)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
  });

  it('accept any size up to the app limit (the range carries the limit, not the declared size)', async () => {
    const key = newKey();
    const upload = await provider.presignUpload(request(key, 10, { maxBytes: 1000 }));
    expect((await putWith(upload, randomBytes(1000))).status).toBe(200);
    expect((await provider.head(key)).contentLength).toBe(1000);
  });

  it('are refused when the client widens the signed range', async () => {
    const key = newKey();
    const upload = await provider.presignUpload(request(key, 10, { maxBytes: 100 }));
    const put = await putWith(upload, randomBytes(500), { 'x-goog-content-length-range': '0,1000' });
    expect(put.status).toBe(403);
  });

  it('can be re-signed with a slow clock without drifting: expiresAt is on a whole second', async () => {
    const clocked = createGcsStorageProvider({ bucket, endpoint: emulator.endpoint, identity, now: () => Date.now() + 1_234 });
    const upload = await clocked.presignUpload(request(newKey(), 10, { expiresInSeconds: 120 }));
    expect(upload.expiresAt.getTime() % 1000).toBe(0);
  });
});

describe('GCS reads', () => {
  it('stream the object; an abort during the read stops the stream', async () => {
    const key = newKey();
    const body = randomBytes(200_000);
    await putWith(await provider.presignUpload(request(key, body.length)), body);
    const controller = new AbortController();
    const read = await provider.openRead(key, { signal: controller.signal });
    controller.abort(new Error('client went away'));
    await expect(bytesOf(read.body)).rejects.toThrow();
    expect(read.body.destroyed).toBe(true);
  });

  it('refuse to start with an already-aborted signal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(provider.openRead(newKey(), { signal: controller.signal })).rejects.toThrow();
  });
});

describe('GCS builder', () => {
  const appWith = (storage: Record<string, unknown>) =>
    darkroomAppSchema.parse({
      apiVersion: 'darkroom.dev/v1alpha1',
      kind: 'DarkroomApp',
      metadata: { name: 'gcs-app' },
      spec: { storage: { provider: 'gcs', bucket: 'some-bucket', ...storage } },
    });

  it('builds a GCS provider for a gcs app through the providers table', () => {
    const providers = new CachedStorageProviders({ gcs: buildGcsStorageProvider }, { s3Endpoint: undefined });
    const app = appWith({ endpoint: emulator.endpoint });
    const built = providers.forApp(app);
    expect(built).toBeInstanceOf(GcsStorageProvider);
    expect(providers.forApp(app)).toBe(built);
  });

  it('builds an app with a credentialsSecretRef on the Secret\'s key, through the providers table', async () => {
    const lookup = secrets({ 'team-a/gcs-key': { serviceAccountKey: keyJson } });
    const providers = new CachedStorageProviders({ gcs: buildGcsStorageProvider }, { s3Endpoint: undefined, secrets: lookup });
    const app = appWith({ bucket, endpoint: emulator.endpoint, credentialsSecretRef: { name: 'gcs-key' } });
    const built = providers.forApp({ ...app, metadata: { ...app.metadata, namespace: 'team-a' } });
    const upload = await built.presignUpload(request(newKey(), 10));
    expect(new URL(upload.url).searchParams.get('X-Goog-Credential')?.startsWith(`${account.clientEmail}/`)).toBe(true);
    expect((await putWith(upload, randomBytes(10))).status).toBe(200);
  });

  it('refuses an app with a credentialsSecretRef when there is no Secret lookup (apps file)', () => {
    const providers = new CachedStorageProviders({ gcs: buildGcsStorageProvider }, { s3Endpoint: undefined });
    expect(() => providers.forApp(appWith({ credentialsSecretRef: { name: 'gcs-key' } }))).toThrow(
      expect.objectContaining({ code: 'APP_CONFIG_INVALID' }),
    );
  });

  /** An in-memory Secret cache, as the Kubernetes source keeps one. */
  const secrets = (data: Record<string, Record<string, string>>): SecretCredentialsLookup => ({
    get: (namespace, name) => data[`${namespace}/${name}`],
    version: (namespace, name) => (data[`${namespace}/${name}`] ? '1' : undefined),
  });
  const keyJson = JSON.stringify({ type: 'service_account', client_email: account.clientEmail, private_key: account.privateKeyPem });
  const withSecret = () => appWith({ endpoint: emulator.endpoint, credentialsSecretRef: { name: 'gcs-key' } }).spec.storage;

  it('runs on the ambient identity when the app names no Secret', () => {
    expect(gcsIdentityFor(appWith({}).spec.storage, 'team-a', undefined)).toEqual({ kind: 'ambient' });
  });

  it('runs on the Secret\'s service-account key, which signs URLs the emulator accepts', async () => {
    const secretIdentity = gcsIdentityFor(withSecret(), 'team-a', secrets({ 'team-a/gcs-key': { serviceAccountKey: keyJson } }));
    expect(secretIdentity).toEqual(identity);
    const fromSecret = createGcsStorageProvider({ bucket, endpoint: emulator.endpoint, identity: secretIdentity });
    const key = newKey();
    expect((await putWith(await fromSecret.presignUpload(request(key, 10)), randomBytes(10))).status).toBe(200);
  });

  it.each([
    ['no Secret lookup (no Kubernetes source)', undefined],
    ['a missing Secret', secrets({})],
    ['a Secret without serviceAccountKey', secrets({ 'team-a/gcs-key': { other: 'x' } })],
    ['a key that is not JSON', secrets({ 'team-a/gcs-key': { serviceAccountKey: 'nope' } })],
    ['a key without private_key', secrets({ 'team-a/gcs-key': { serviceAccountKey: JSON.stringify({ client_email: account.clientEmail }) } })],
  ])('refuses %s with APP_CONFIG_INVALID, never falling back to the ambient identity', (_label, lookup) => {
    let thrown: unknown;
    try {
      gcsIdentityFor(withSecret(), 'team-a', lookup);
    } catch (error) {
      thrown = error;
    }
    expect(isDarkroomError(thrown) && thrown.code).toBe('APP_CONFIG_INVALID');
    expect((thrown as Error).message).not.toContain('PRIVATE KEY');
  });
});
