/**
 * darkroom's own S3 requests (GetObject, HeadObject, PutObject of a variant) go out as signed URLs
 * over undici, and behave as the SDK client did: the same storage faults for S3's error answers,
 * one retry after a dropped connection or a 5xx, none after a 4xx, Cache-Control stored with a
 * made object, and signing on storage's clock when this node's is far off. When the templates cannot be prepared, the SDK sends the same requests and the
 * fallback is reported. Against the embedded S3 (s3rver behind the SigV4 verifier) and a loopback
 * peer that answers as S3 does.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/devstorage/embedded-s3.js';
import { isDarkroomError } from '../../src/core/errors.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { S3StorageProvider } from '../../src/storage/s3-storage-provider.js';
import { storageFaultOf, type StorageProvider } from '../../src/storage/storage-provider.js';
import { startHangingPeer, type HangingPeer, type PeerBehaviour } from '../support/hanging-peer.js';

const bucket = 'own-requests';
const credentials = { accessKeyId: `OWN${randomBytes(4).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
const immutable = 'public, max-age=31536000, immutable';

const providerAt = (endpoint: string, options: ConstructorParameters<typeof S3StorageProvider>[2] = {}) =>
  new S3StorageProvider(createS3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials }), bucket, options);

async function bytesOf(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What a failed call rejected with: its catalogue code and storage fault. */
async function failureOf(call: Promise<unknown>): Promise<{ code: string; fault: string | undefined }> {
  try {
    await call;
  } catch (error) {
    return { code: isDarkroomError(error) ? error.code : `not a catalogue error: ${String(error)}`, fault: storageFaultOf(error) };
  }
  throw new Error('expected the call to fail');
}

describe('against the embedded S3', () => {
  let s3: EmbeddedS3;
  let provider: StorageProvider;

  beforeAll(async () => {
    s3 = await startEmbeddedS3({ bucket, credentials });
    provider = providerAt(s3.endpoint);
  });
  afterAll(async () => {
    provider?.close();
    await s3?.close();
  });

  it('stores a made object with its type and Cache-Control, replaces it, and reads it back whole and by range', async () => {
    const key = `variants/${randomBytes(6).toString('hex')}/w640.webp`;
    await provider.put({ key, body: Buffer.from('first version'), contentType: 'image/webp', cacheControl: immutable });
    const second = randomBytes(4096);
    await provider.put({ key, body: second, contentType: 'image/webp', cacheControl: immutable });
    // s3rver itself, unauthenticated: what a CDN in front of the bucket would be given.
    const raw = await fetch(`http://${s3.origin.host}:${s3.origin.port}/${bucket}/${key}`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get('cache-control')).toBe(immutable);
    expect(raw.headers.get('content-type')).toBe('image/webp');
    expect(Buffer.from(await raw.arrayBuffer()).equals(second)).toBe(true);

    const head = await provider.head(key);
    expect(head).toMatchObject({ contentType: 'image/webp', contentLength: 4096 });
    expect(head.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(head.lastModified).toBeInstanceOf(Date);
    const whole = await provider.openRead(key);
    expect(whole.etag).toBe(head.etag);
    expect((await bytesOf(whole.body)).equals(second)).toBe(true);
    const range = await provider.openRead(key, { range: { start: 10, end: 19 } });
    expect(range.contentLength).toBe(10);
    expect((await bytesOf(range.body)).equals(second.subarray(10, 20))).toBe(true);
  });

  it('answers IMAGE_NOT_FOUND for a missing key and APP_CONFIG_INVALID for a missing bucket', async () => {
    expect(await failureOf(provider.openRead('no/such/key.webp'))).toEqual({ code: 'IMAGE_NOT_FOUND', fault: 'not_found' });
    expect(await failureOf(provider.head('no/such/key.webp'))).toEqual({ code: 'IMAGE_NOT_FOUND', fault: 'not_found' });
    const elsewhere = new S3StorageProvider(createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials }), 'no-such-bucket');
    try {
      expect(await failureOf(elsewhere.openRead('a.webp'))).toEqual({ code: 'APP_CONFIG_INVALID', fault: 'bucket_missing' });
    } finally {
      elsewhere.close();
    }
  });

  it("keeps reading and storing when this node's clock is far from storage's: it signs on S3's time, learnt from its Date header", async () => {
    const dayMs = 86_400_000;
    // A node 400 days behind (URLs "expired" on arrival) and one 2 hours ahead ("not yet valid").
    for (const skewMs of [-400 * dayMs, 2 * 3_600_000]) {
      const skewed = providerAt(s3.endpoint, { now: () => Date.now() + skewMs });
      try {
        const key = `variants/${randomBytes(6).toString('hex')}/w640.webp`;
        const body = randomBytes(2048);
        // Several at once before the first answer: each refused one is signed again, not just the first.
        await Promise.all(
          [key, ...Array.from({ length: 3 }, (_, index) => `${key}.${index}`)].map((each) => skewed.put({ key: each, body, contentType: 'image/webp', cacheControl: immutable })),
        );
        expect((await bytesOf((await skewed.openRead(key)).body)).equals(body)).toBe(true);
        expect((await skewed.head(key)).contentLength).toBe(2048);
        expect(await failureOf(skewed.openRead('no/such/key.webp'))).toEqual({ code: 'IMAGE_NOT_FOUND', fault: 'not_found' });
        // Upload URLs are signed on S3's time too, once it is known: a client's PUT is accepted.
        const upload = await skewed.presignUpload({ key: `uploads/${randomBytes(6).toString('hex')}.png`, contentType: 'image/png', contentLength: 4, maxBytes: 1024, expiresInSeconds: 300 });
        const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: Buffer.from([0x89, 0x50, 0x4e, 0x47]) });
        expect(put.status).toBe(200);
        expect(Math.abs(upload.expiresAt.getTime() - (Date.now() + 300_000))).toBeLessThan(5_000);
      } finally {
        skewed.close();
      }
    }
  });

  it('sends the same requests through the SDK when the templates cannot be prepared, and reports each fallback', async () => {
    const fallbacks: string[] = [];
    const client = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials });
    // Breaks only the template capture, which runs the SDK's stack on a placeholder key.
    client.middlewareStack.add(
      (next) => async (args) => {
        if ((args.input as { Key?: string }).Key === 'darkroom-presign-template-key') throw new Error('capture broke');
        return next(args);
      },
      { step: 'initialize', name: 'breakCapture' },
    );
    const viaSdk = new S3StorageProvider(client, bucket, { onFallback: (reason) => fallbacks.push(reason) });
    try {
      const key = `variants/${randomBytes(6).toString('hex')}/w320.webp`;
      const body = randomBytes(1000);
      await viaSdk.put({ key, body, contentType: 'image/webp', cacheControl: immutable });
      expect(await viaSdk.head(key)).toMatchObject({ contentType: 'image/webp', contentLength: 1000 });
      expect((await bytesOf((await viaSdk.openRead(key)).body)).equals(body)).toBe(true);
      expect(await failureOf(viaSdk.openRead('no/such/key.webp'))).toEqual({ code: 'IMAGE_NOT_FOUND', fault: 'not_found' });
      const raw = await fetch(`http://${s3.origin.host}:${s3.origin.port}/${bucket}/${key}`);
      expect(raw.headers.get('cache-control')).toBe(immutable);
      await raw.arrayBuffer();
      // One report per operation (store, head, get), not one per request.
      expect(fallbacks).toEqual(['error', 'error', 'error']);
    } finally {
      viaSdk.close();
    }
  });
});

describe('against a peer that answers as S3 does', () => {
  let peer: HangingPeer;
  let provider: StorageProvider;
  const heads: string[] = [];
  type Answer = Exclude<PeerBehaviour, { kind: 'per-request' }>;
  /** Answers the queued behaviours in order, then a healthy object. */
  let queue: Answer[] = [];
  const healthy: Answer = { kind: 'slow', delayMs: 0 };
  const s3Error = (status: number, code: string): Answer => ({
    kind: 'answer',
    status,
    headers: { 'Content-Type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m</Message><RequestId>0123</RequestId></Error>`,
  });

  beforeAll(async () => {
    peer = await startHangingPeer({
      kind: 'per-request',
      choose: (head) => {
        heads.push(head);
        return queue.shift() ?? healthy;
      },
    });
    provider = providerAt(peer.endpoint);
  });
  afterAll(async () => {
    provider?.close();
    await peer?.close();
  });

  /** Runs `call` with `behaviours` answered first, and counts the requests it made. */
  async function withAnswers<T>(behaviours: Answer[], call: () => Promise<T>): Promise<{ result: T; requests: number }> {
    queue = [...behaviours];
    const before = heads.length;
    const result = await call();
    return { result, requests: heads.length - before };
  }

  it('sends a presigned URL (query signature, no Authorization header) for a read', async () => {
    const { requests } = await withAnswers([], async () => bytesOf((await provider.openRead('img/a.jpg')).body));
    expect(requests).toBe(1);
    const head = heads.at(-1) as string;
    expect(head).toMatch(/^GET \/own-requests\/img\/a\.jpg\?[^ ]*X-Amz-Signature=[0-9a-f]{64}/);
    expect(head).toMatch(/[?&]x-id=GetObject[& ]/);
    expect(head.toLowerCase()).not.toContain('\r\nauthorization:');
  });

  it('retries once after a 5xx or a dropped connection, and serves the second answer', async () => {
    const afterBusy = await withAnswers([s3Error(503, 'SlowDown')], async () => bytesOf((await provider.openRead('img/b.jpg')).body));
    expect(afterBusy.requests).toBe(2);
    expect(afterBusy.result.length).toBeGreaterThan(0);
    const afterReset = await withAnswers([{ kind: 'reset' }], () => provider.head('img/c.jpg'));
    expect(afterReset.requests).toBe(2);
    expect(afterReset.result.contentLength).toBeGreaterThan(0);
  });

  it('gives up after the second failure: STORAGE_UNAVAILABLE', async () => {
    const { result, requests } = await withAnswers([s3Error(500, 'InternalError'), s3Error(503, 'SlowDown')], () => failureOf(provider.openRead('img/d.jpg')));
    expect(result).toEqual({ code: 'STORAGE_UNAVAILABLE', fault: 'unavailable' });
    expect(requests).toBe(2);
  });

  it("maps S3's 4xx codes as the SDK path does, without a retry", async () => {
    const cases: [Answer, { code: string; fault: string }][] = [
      [s3Error(404, 'NoSuchKey'), { code: 'IMAGE_NOT_FOUND', fault: 'not_found' }],
      [s3Error(404, 'NoSuchBucket'), { code: 'APP_CONFIG_INVALID', fault: 'bucket_missing' }],
      [s3Error(403, 'AccessDenied'), { code: 'IMAGE_NOT_FOUND', fault: 'access_denied' }],
      // darkroom's own key refused: every read fails, so "retry later", not "not found".
      [s3Error(403, 'InvalidAccessKeyId'), { code: 'STORAGE_UNAVAILABLE', fault: 'unavailable' }],
      [s3Error(403, 'SignatureDoesNotMatch'), { code: 'STORAGE_UNAVAILABLE', fault: 'unavailable' }],
    ];
    for (const [answer, expected] of cases) {
      const { result, requests } = await withAnswers([answer], () => failureOf(provider.openRead('img/e.jpg')));
      expect(result).toEqual(expected);
      expect(requests).toBe(1);
    }
    // A HEAD's error has no body: its status alone decides.
    const head = await withAnswers([s3Error(403, 'AccessDenied')], () => failureOf(provider.head('img/f.jpg')));
    expect(head.result).toEqual({ code: 'IMAGE_NOT_FOUND', fault: 'access_denied' });
    const missing = await withAnswers([s3Error(404, 'NoSuchKey')], () => failureOf(provider.head('img/g.jpg')));
    expect(missing.result).toEqual({ code: 'IMAGE_NOT_FOUND', fault: 'not_found' });
  });
});
