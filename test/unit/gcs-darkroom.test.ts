/**
 * A `gcs` app through darkroom's HTTP API, on the production code path: the builder table picks
 * the GCS provider, the ambient identity is a key file named by GOOGLE_APPLICATION_CREDENTIALS
 * (as a pod would mount it), uploads go to the emulator with the returned headers, and the public
 * URL reads the image back from the emulator. (An integration test by tier; kept beside the other
 * GCS tests.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyPng } from '../fixtures/images.js';
import { startGcsEmulator, testServiceAccount, type GcsEmulator } from '../support/gcs-emulator.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';

const bucket = 'darkroom-gcs';
let emulator: GcsEmulator;
let stack: Stack;
let keyDir: string;

beforeAll(async () => {
  const account = testServiceAccount();
  emulator = await startGcsEmulator({ buckets: [bucket], publicKeys: new Map([[account.clientEmail, account.publicKey]]) });
  keyDir = await mkdtemp(join(tmpdir(), 'darkroom-gcs-key-'));
  const keyFile = join(keyDir, 'key.json');
  await writeFile(
    keyFile,
    JSON.stringify({ type: 'service_account', client_email: account.clientEmail, private_key: account.privateKeyPem, project_id: 'darkroom-test' }),
    { mode: 0o600 },
  );
  // Application Default Credentials read this, as they read a mounted key in production.
  process.env.GOOGLE_APPLICATION_CREDENTIALS = keyFile;
  stack = await startStack({
    appsYaml: appYaml(
      'photos',
      `allowPublicUpload: true
storage:
  provider: gcs
  bucket: ${bucket}
  endpoint: ${emulator.endpoint}
  prefix: img/
upload:
  maxBytes: 4096
  urlTTLSeconds: 300`,
    ),
  });
});

afterAll(async () => {
  await stack?.close();
  await emulator?.close();
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

describe('a gcs app through darkroom', () => {
  it('issues a V4 URL with the range header, accepts the upload, and serves it at the public URL', async () => {
    const presign = await fetch(`${stack.darkroom.url}/darkroom/photos/v1/images/presigned-urls`, {
      method: 'POST',
      headers: { 'X-Owner-Id': 'owner-1', 'Content-Type': 'application/json' },
      body: JSON.stringify({ file: 'Holiday Photo.png', size: tinyPng.length }),
    });
    expect(presign.status).toBe(200);
    const { data } = (await presign.json()) as {
      data: { uploadURL: string; publicURL: string; key: string; method: string; headers: Record<string, string> };
    };
    expect(data.uploadURL.startsWith(`${emulator.endpoint}/${bucket}/img/`)).toBe(true);
    expect(data.headers).toMatchObject({ 'Content-Type': 'image/png', 'x-goog-content-length-range': '0,4096' });

    const put = await fetch(data.uploadURL, { method: data.method, headers: data.headers, body: tinyPng });
    expect(put.status).toBe(200);
    expect(emulator.objects.get(`${bucket}/img/${data.key}`)?.bytes.equals(tinyPng)).toBe(true);

    const read = await fetch(`${stack.darkroom.url}${new URL(data.publicURL).pathname}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('content-type')).toBe('image/png');
    expect(read.headers.get('etag')).toMatch(/^".+"$/);
    expect(Buffer.from(await read.arrayBuffer()).equals(tinyPng)).toBe(true);
  });

  it("accepts the seed's size-less request: the signed range enforces maxBytes, and the URL never overwrites", async () => {
    const presign = await fetch(`${stack.darkroom.url}/darkroom/photos/v1/images/presigned-urls`, {
      method: 'POST',
      headers: { 'X-Owner-Id': 'owner-1', 'Content-Type': 'application/json' },
      body: JSON.stringify({ file: 'x.png' }),
    });
    expect(presign.status).toBe(200);
    const { data } = (await presign.json()) as { data: { uploadURL: string; headers: Record<string, string>; method: string } };
    expect(data.headers).toEqual({ 'Content-Type': 'image/png', 'x-goog-content-length-range': '0,4096', 'x-goog-if-generation-match': '0' });
    expect((await fetch(data.uploadURL, { method: data.method, headers: data.headers, body: Buffer.alloc(4097, 1) })).status).toBe(400);
    expect((await fetch(data.uploadURL, { method: data.method, headers: data.headers, body: tinyPng })).status).toBe(200);
    expect((await fetch(data.uploadURL, { method: data.method, headers: data.headers, body: tinyPng })).status).toBe(412);
  });

  it('answers 404 IMAGE_NOT_FOUND for a key that was never uploaded', async () => {
    const read = await fetch(`${stack.darkroom.url}/darkroom/photos/v2/images/${'a'.repeat(32)}-missing.png`);
    expect(read.status).toBe(404);
    expect(((await read.json()) as { error: { code: string } }).error.code).toBe('IMAGE_NOT_FOUND');
  });
});
