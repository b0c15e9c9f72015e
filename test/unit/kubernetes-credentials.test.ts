import { describe, expect, it } from 'vitest';
import { parseDarkroomApp, type DarkroomApp } from '../../src/config/darkroom-app.js';
import { DarkroomError } from '../../src/core/errors.js';
import { gcsCredentialsFromSecret, s3CredentialsFromSecret, secretProblems } from '../../src/storage/credentials.js';
import { buildS3StorageProvider } from '../../src/storage/s3-builder.js';
import { CachedStorageProviders } from '../../src/storage/storage-providers.js';
import { MapSecretLookup } from '../support/map-secret-lookup.js';

function app(namespace: string | undefined, secret?: string): DarkroomApp {
  const result = parseDarkroomApp({
    apiVersion: 'darkroom.dev/v1alpha1',
    kind: 'DarkroomApp',
    metadata: { name: 'vault', ...(namespace ? { namespace } : {}) },
    spec: { storage: { provider: 's3', bucket: 'vault-bucket', endpoint: 'http://127.0.0.1:1', ...(secret ? { credentialsSecretRef: { name: secret } } : {}) } },
  });
  if (!result.ok) throw new Error('fixture invalid');
  return result.app;
}

/** The internal detail of the DarkroomError `run` throws (logs only; the client sees catalogue text). */
function detailOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (!(error instanceof DarkroomError)) throw error;
    expect(error.message).toBe('This app has an invalid configuration and is not being served.');
    return error.detail ?? '';
  }
  throw new Error('expected a DarkroomError');
}

describe('credentials from Secrets', () => {
  it('reads S3 keys and names missing ones without echoing values', () => {
    expect(s3CredentialsFromSecret({ accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'ST' })).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'ST' });
    expect(secretProblems('s3', { accessKeyId: 'AK' })).toEqual(['missing key secretAccessKey']);
    expect(detailOf(() => s3CredentialsFromSecret({ accesKeyId: 'hunter2' }))).toMatch(/missing keys accessKeyId, secretAccessKey/);
    expect(detailOf(() => s3CredentialsFromSecret({ accesKeyId: 'hunter2' }))).not.toMatch(/hunter2/);
  });

  it('reads a GCS service-account key', () => {
    const key = JSON.stringify({ client_email: 'sa@p.iam.gserviceaccount.com', private_key: '-----BEGIN PRIVATE KEY-----\n', project_id: 'p' });
    expect(gcsCredentialsFromSecret({ serviceAccountKey: key })).toMatchObject({ client_email: 'sa@p.iam.gserviceaccount.com', project_id: 'p' });
    expect(secretProblems('gcs', { serviceAccountKey: '{' })).toEqual(['serviceAccountKey is not JSON']);
    expect(secretProblems('gcs', {})).toEqual(['missing key serviceAccountKey']);
  });

  it('refuses an app naming a Secret when there is no lookup or no such Secret', () => {
    const withoutLookup = new CachedStorageProviders({ s3: buildS3StorageProvider }, { s3Endpoint: undefined });
    expect(detailOf(() => withoutLookup.forApp(app(undefined, 'vault-s3')))).toMatch(/needs the Kubernetes config source/);
    const lookup = new MapSecretLookup();
    const providers = new CachedStorageProviders({ s3: buildS3StorageProvider }, { s3Endpoint: undefined, secrets: lookup });
    expect(() => providers.forApp(app('team-a', 'vault-s3'))).toThrow(DarkroomError);
    expect(detailOf(() => providers.forApp(app('team-a', 'vault-s3')))).toMatch(/does not exist in namespace "team-a"/);
  });

  it('rebuilds the provider when its Secret changes, and only then', () => {
    const lookup = new MapSecretLookup();
    let builds = 0;
    const providers = new CachedStorageProviders(
      { s3: (storage, defaults, context) => ((builds += 1), buildS3StorageProvider(storage, defaults, context)) },
      { s3Endpoint: undefined, secrets: lookup },
    );
    lookup.secrets.set('team-a/vault-s3', { data: { accessKeyId: 'A1', secretAccessKey: 'S1' }, version: '1' });
    const first = providers.forApp(app('team-a', 'vault-s3'));
    expect(providers.forApp(app('team-a', 'vault-s3'))).toBe(first);
    lookup.secrets.set('team-a/vault-s3', { data: { accessKeyId: 'A2', secretAccessKey: 'S2' }, version: '2' });
    expect(providers.forApp(app('team-a', 'vault-s3'))).not.toBe(first);
    expect(builds).toBe(2);
  });
});
