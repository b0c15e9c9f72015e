/**
 * Property tests of object-key encoding through sign → upload → read, on each provider: whatever
 * key darkroom builds (any client file name, any valid prefix), and at the provider level raw keys
 * with spaces, unicode and reserved characters, the signed URL must address exactly that object,
 * the storage service must accept its signature, and both reads must find the same bytes.
 *
 * Raw keys leave out `.` and `..` path segments: URL parsers (WHATWG, used by both SDKs) resolve
 * them before the request is sent, so no signed URL can address such a key; darkroom never builds
 * one (`src/core/keys.ts`).
 */
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newImageKey, sanitiseFileName, storageKey } from '../../src/core/keys.js';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/devstorage/embedded-s3.js';
import { createGcsStorageProvider } from '../../src/storage/gcs-builder.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { S3StorageProvider } from '../../src/storage/s3-storage-provider.js';
import type { StorageProvider } from '../../src/storage/storage-provider.js';
import { startGcsEmulator, testServiceAccount, type GcsEmulator } from '../support/gcs-emulator.js';
import { bytesOf, putWith, request } from './storage-provider.contract.js';

const numRuns = 25;

/** A prefix as the DarkroomApp schema allows it: `[A-Za-z0-9!_.*'()/-]`, no leading `/`, no dot segments. */
const prefixArb = fc
  .array(fc.stringMatching(/^[A-Za-z0-9!_.*'()-]{1,12}$/).filter((segment) => segment !== '.' && segment !== '..'), { maxLength: 3 })
  .map((segments) => segments.map((segment) => `${segment}/`).join(''));

/** A key built the way the presign route builds it, from any client file name ending in an image extension. */
const darkroomKeyArb = fc
  .tuple(prefixArb, fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constantFrom('jpg', 'PNG', 'webp', 'gif'))
  .map(([prefix, stem, extension]) => {
    const sanitised = sanitiseFileName(`${stem}.${extension}`);
    return sanitised.ok ? storageKey(prefix, newImageKey(sanitised.value.name)) : undefined;
  })
  .filter((key): key is string => key !== undefined);

const awkwardPieces = [' ', '  ', '+', '%', '%20', '&', '=', '?', '#', '[', ']', '@', '!', '$', "'", '(', ')', '*', ',', ';', ':', '~', '"', '<', '>', '^', '`', '{', '}', '|', '\\', 'é', 'ß', '中文', 'Ω', '😀', 'e\u0301', 'a', 'Z', '0', '-', '_', '.'];
/** A raw key: segments of awkward pieces joined by `/`, never a `.` or `..` segment. */
const rawKeyArb = fc
  .array(
    fc
      .array(fc.constantFrom(...awkwardPieces), { minLength: 1, maxLength: 6 })
      .map((pieces) => pieces.join(''))
      .filter((segment) => segment !== '.' && segment !== '..'),
    { minLength: 1, maxLength: 4 },
  )
  .map((segments) => segments.join('/'));

async function roundTrip(provider: StorageProvider, key: string): Promise<void> {
  const body = randomBytes(64);
  const upload = await provider.presignUpload(request(key, body.length));
  const put = await putWith(upload, body);
  expect(put.status, `PUT of ${JSON.stringify(key)}`).toBe(200);
  expect((await provider.head(key)).contentLength).toBe(body.length);
  expect((await bytesOf((await provider.openRead(key)).body)).equals(body)).toBe(true);
}

describe('key encoding on GCS (emulator)', () => {
  let emulator: GcsEmulator;
  let provider: StorageProvider;

  beforeAll(async () => {
    const account = testServiceAccount();
    emulator = await startGcsEmulator({ buckets: ['keys-gcs'], publicKeys: new Map([[account.clientEmail, account.publicKey]]) });
    provider = createGcsStorageProvider({
      bucket: 'keys-gcs',
      endpoint: emulator.endpoint,
      identity: { kind: 'service-account', clientEmail: account.clientEmail, privateKey: account.privateKeyPem },
    });
  });
  afterAll(async () => {
    await emulator?.close();
  });

  it('darkroom-built keys survive sign → upload → read', async () => {
    await fc.assert(fc.asyncProperty(darkroomKeyArb, (key) => roundTrip(provider, key)), { numRuns });
  });

  it('raw keys with spaces, unicode and reserved characters survive sign → upload → read, stored under that exact name', async () => {
    await fc.assert(
      fc.asyncProperty(rawKeyArb, async (key) => {
        // Each run under its own prefix: no-overwrite URLs refuse a key that an earlier run stored.
        const scoped = `${randomBytes(6).toString('hex')}/${key}`;
        await roundTrip(provider, scoped);
        expect(emulator.objects.has(`keys-gcs/${scoped}`)).toBe(true);
      }),
      { numRuns },
    );
  });
});

describe('key encoding on S3 (embedded s3rver)', () => {
  let s3: EmbeddedS3;
  let provider: StorageProvider;
  let lister: S3Client;

  beforeAll(async () => {
    const credentials = { accessKeyId: `KEYS${randomBytes(4).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
    s3 = await startEmbeddedS3({ bucket: 'keys-s3', credentials });
    provider = new S3StorageProvider(createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials }), 'keys-s3');
    lister = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials });
  });
  afterAll(async () => {
    provider?.close();
    lister?.destroy();
    await s3?.close();
  });

  /** The names the bucket holds under `prefix`, as a listing returns them (what another reader of the bucket sees). */
  async function storedNames(prefix: string): Promise<string[]> {
    const listing = await lister.send(new ListObjectsV2Command({ Bucket: 'keys-s3', Prefix: prefix }));
    return (listing.Contents ?? []).map((object) => object.Key ?? '');
  }

  it('darkroom-built keys survive sign → upload → read', async () => {
    await fc.assert(fc.asyncProperty(darkroomKeyArb, (key) => roundTrip(provider, key)), { numRuns });
  });

  it('raw keys with spaces, unicode and reserved characters survive sign → upload → read, stored under that exact name', async () => {
    await fc.assert(
      fc.asyncProperty(rawKeyArb, async (key) => {
        // Each run under its own prefix: no-overwrite URLs refuse a key that an earlier run stored.
        const scoped = `${randomBytes(6).toString('hex')}/${key}`;
        await roundTrip(provider, scoped);
        expect(await storedNames(scoped)).toContain(scoped);
      }),
      { numRuns },
    );
  });
});
