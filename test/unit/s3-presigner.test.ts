/**
 * The fast presigner must produce exactly the URL `getSignedUrl` produces for the same inputs:
 * byte for byte, over awkward keys, with and without a length, any expiry, any signing date, with
 * and without a session token, path-style endpoints and AWS virtual-hosted buckets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createS3Client, type S3ClientOptions } from '../../src/storage/s3-client.js';
import { S3Presigner, type PresignPutInput } from '../../src/storage/s3-presigner.js';

const staticCredentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const sessionCredentials = { ...staticCredentials, sessionToken: 'FwoGZXIvYXdzE+/session=token&with%odd/chars' };

const awkwardKeys = [
  'apps/demo/owner/0193a1b2-photo.jpg',
  'a key with spaces/and+plus&amp=eq?q#hash.png',
  "quotes'and(parens)*star!bang.webp",
  'ünïcödé/日本語/😀.gif',
  'percent%20already%2Fencoded.jpg',
  'double//slash/trailing/',
  '~tilde-_.dot',
  'semi;colon,comma:colon@at$dollar.avif',
];

function presigner(options: Partial<S3ClientOptions>, bucket = 'test-bucket'): S3Presigner {
  const client = createS3Client({
    region: 'eu-west-1',
    endpoint: undefined,
    forcePathStyle: undefined,
    credentials: staticCredentials,
    ...options,
  });
  return new S3Presigner(client, bucket);
}

async function expectIdentical(signer: S3Presigner, input: PresignPutInput): Promise<string> {
  const fast = await signer.presignPut(input);
  expect(fast.expiresInSeconds).toBe(input.expiresInSeconds);
  const reference = await signer.presignPutWithSdk(input);
  expect(fast.url).toBe(reference);
  return fast.url;
}

const baseInput: PresignPutInput = {
  key: 'apps/demo/photo.jpg',
  contentType: 'image/jpeg',
  contentLength: 12_345,
  expiresInSeconds: 900,
  signingDate: new Date('2026-11-25T12:34:56.789Z'),
};

describe('S3Presigner', () => {
  const setups: [string, Partial<S3ClientOptions>, string][] = [
    ['a path-style endpoint with a port', { endpoint: 'http://127.0.0.1:9000' }, 'test-bucket'],
    ['an https path-style endpoint', { endpoint: 'https://minio.internal.example', region: 'us-east-1' }, 'uploads'],
    ['AWS, virtual-hosted', {}, 'my-bucket'],
    ['AWS, a bucket with dots', { region: 'us-east-1' }, 'images.example.com'],
    ['AWS, forced path style', { forcePathStyle: true, region: 'ap-southeast-2' }, 'my-bucket'],
    ['a session token', { endpoint: 'http://127.0.0.1:9000', credentials: sessionCredentials }, 'test-bucket'],
  ];

  for (const [name, options, bucket] of setups) {
    it(`matches getSignedUrl for awkward keys with ${name}`, async () => {
      const signer = presigner(options, bucket);
      expect(await signer.usesTemplate()).toBe(true);
      for (const key of awkwardKeys) {
        const url = await expectIdentical(signer, { ...baseInput, key });
        expect(url).toContain('X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match');
        await expectIdentical(signer, { ...baseInput, key, contentLength: undefined });
      }
    });
  }

  it('signs the session token, content type and length into the URL', async () => {
    const url = new URL(await expectIdentical(presigner({ credentials: sessionCredentials }), baseInput));
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(sessionCredentials.sessionToken);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host;if-none-match');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261125T123456Z');
    expect(url.searchParams.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20261125/eu-west-1/s3/aws4_request');
    expect(url.searchParams.get('x-id')).toBe('PutObject');
  });

  it('gives a different signature for a different content type or length', async () => {
    const signer = presigner({ endpoint: 'http://127.0.0.1:9000' });
    const signature = async (input: PresignPutInput) => new URL((await signer.presignPut(input)).url).searchParams.get('X-Amz-Signature');
    const base = await signature(baseInput);
    expect(await signature({ ...baseInput, contentType: 'image/png' })).not.toBe(base);
    expect(await signature({ ...baseInput, contentLength: 12_346 })).not.toBe(base);
  });

  it('matches getSignedUrl for any key, type, length, expiry and date (property)', async () => {
    const pathStyle = presigner({ endpoint: 'http://127.0.0.1:9000', credentials: sessionCredentials });
    const virtualHosted = presigner({}, 'bucket-1');
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }),
        fc.constantFrom('image/jpeg', 'image/png', 'image/webp', 'image/svg+xml; charset=utf-8'),
        fc.option(fc.integer({ min: 1, max: 50 * 1024 * 1024 }), { nil: undefined }),
        fc.integer({ min: 1, max: 604_800 }),
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.boolean(),
        async (key, contentType, contentLength, expiresInSeconds, signingDate, useVirtualHosted) => {
          const signer = useVirtualHosted ? virtualHosted : pathStyle;
          const input = { key, contentType, contentLength, expiresInSeconds, signingDate };
          expect((await signer.presignPut(input)).url).toBe(await signer.presignPutWithSdk(input));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses an expiry beyond seven days, as the SDK does', async () => {
    const signer = presigner({ endpoint: 'http://127.0.0.1:9000' });
    expect(await signer.usesTemplate()).toBe(true);
    await expect(signer.presignPut({ ...baseInput, expiresInSeconds: 604_801 })).rejects.toThrow(/one week/);
    await expect(signer.presignPutWithSdk({ ...baseInput, expiresInSeconds: 604_801 })).rejects.toBeDefined();
  });

  it('re-resolves credentials that are close to expiry', async () => {
    let calls = 0;
    const now = baseInput.signingDate.getTime();
    const client = createS3Client({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: undefined });
    // Each resolution hands out a new key that expires within the refresh margin, so none is reused.
    client.config.credentials = async () => {
      calls += 1;
      return { accessKeyId: `AKID${calls}`, secretAccessKey: 'secret', expiration: new Date(now + 60_000) };
    };
    const signer = new S3Presigner(client, 'test-bucket', { now: () => now });
    const first = new URL((await signer.presignPut(baseInput)).url).searchParams.get('X-Amz-Credential');
    const second = new URL((await signer.presignPut(baseInput)).url).searchParams.get('X-Amz-Credential');
    expect(first).not.toBe(second);
  });

  it('reuses long-lived credentials without asking the provider again', async () => {
    let calls = 0;
    const client = createS3Client({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: undefined });
    // One instant read once and handed to everything that keeps time: the presigner and the SDK's
    // own credential cache (which reads the process clock) then agree the key is fresh for an hour.
    const now = Date.now();
    client.config.credentials = async () => {
      calls += 1;
      return { ...staticCredentials, expiration: new Date(now + 3_600_000) };
    };
    const signer = new S3Presigner(client, 'test-bucket', { now: () => now });
    for (let i = 0; i < 20; i++) await signer.presignPut({ ...baseInput, signingDate: new Date(now) });
    expect(calls).toBe(1);
  });

  it('signs If-None-Match: * so that a second PUT cannot overwrite (both paths)', async () => {
    const signer = presigner({ endpoint: 'http://127.0.0.1:9000' });
    const url = new URL(await expectIdentical(signer, baseInput));
    expect(url.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('if-none-match');
    expect(new URL(await signer.presignPutWithSdk(baseInput)).searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('if-none-match');
  });

  it("never signs a lifetime beyond the credentials' expiry, and says so", async () => {
    const now = baseInput.signingDate.getTime();
    const client = createS3Client({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: undefined });
    // IRSA-like: temporary credentials with 7 minutes left at signing time.
    client.config.credentials = async () => ({ ...sessionCredentials, expiration: new Date(now + 420_500) });
    const signer = new S3Presigner(client, 'test-bucket', { now: () => now });
    const signed = await signer.presignPut({ ...baseInput, expiresInSeconds: 900 });
    expect(signed.expiresInSeconds).toBe(420);
    expect(new URL(signed.url).searchParams.get('X-Amz-Expires')).toBe('420');
    // The bounded URL is still getSignedUrl's, byte for byte.
    expect(signed.url).toBe(await signer.presignPutWithSdk({ ...baseInput, expiresInSeconds: 420 }));
    // A TTL shorter than what the credentials have left is kept.
    expect((await signer.presignPut({ ...baseInput, expiresInSeconds: 60 })).expiresInSeconds).toBe(60);
  });

  it('falls back to getSignedUrl when the template capture throws, reports it, and retries later', async () => {
    let now = baseInput.signingDate.getTime();
    const client = createS3Client({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: undefined, credentials: staticCredentials });
    const fallbacks: string[] = [];
    const signer = new S3Presigner(client, 'test-bucket', { now: () => now, onFallback: (reason) => fallbacks.push(reason) });
    // A middleware that throws during the capture only: the capture signs a placeholder key.
    let failCapture = true;
    let captures = 0;
    client.middlewareStack.add(
      (next) => async (args) => {
        if ((args.input as { Key?: string }).Key === 'darkroom-presign-template-key') {
          captures += 1;
          if (failCapture) throw new Error('capture broke');
        }
        return next(args);
      },
      { step: 'initialize', name: 'breakCapture' },
    );
    const signed = await signer.presignPut(baseInput);
    expect(fallbacks).toEqual(['error']);
    expect(signed.url).toBe(await signer.presignPutWithSdk(baseInput));
    // Within the retry window the capture is not tried again: URLs keep coming from getSignedUrl.
    failCapture = false;
    now += 30_000;
    expect((await signer.presignPut(baseInput)).url).toBe(await signer.presignPutWithSdk(baseInput));
    expect(captures).toBe(1);
    expect(await signer.usesTemplate()).toBe(false);
    // After it, the capture succeeds and the fast path takes over.
    now += 31_000;
    expect(await signer.usesTemplate()).toBe(true);
    expect(captures).toBe(2);
    expect(fallbacks).toEqual(['error']);
  });
});

describe("S3Presigner, darkroom's own requests (get, head, store)", () => {
  const setups: [string, Partial<S3ClientOptions>, string][] = [
    ['a path-style endpoint with a port', { endpoint: 'http://127.0.0.1:9000' }, 'test-bucket'],
    ['AWS, virtual-hosted', {}, 'my-bucket'],
    ['AWS, a bucket with dots', { region: 'us-east-1' }, 'images.example.com'],
    ['a session token', { endpoint: 'http://127.0.0.1:9000', credentials: sessionCredentials }, 'test-bucket'],
  ];
  // An explicit input of a pure signing comparison, not a clock: nothing here expires against now.
  const signing = { expiresInSeconds: 60, signingDate: new Date('2026-11-25T12:34:56.789Z') };
  const stored = { contentType: 'image/webp', contentLength: 48_213, cacheControl: 'public, max-age=31536000, immutable' };

  for (const [name, options, bucket] of setups) {
    it(`matches getSignedUrl for GetObject, HeadObject and PutObject of awkward keys with ${name}`, async () => {
      const signer = presigner(options, bucket);
      for (const operation of ['get', 'head', 'store'] as const) expect(await signer.usesTemplate(operation)).toBe(true);
      for (const key of awkwardKeys) {
        for (const [operation, input] of [
          ['get', { key, ...signing }],
          ['head', { key, ...signing }],
          ['store', { key, ...stored, ...signing }],
        ] as const) {
          const target = await signer.presignOwn(operation, input);
          expect(target && target.origin + target.path).toBe(await signer.presignWithSdk(operation, input));
        }
      }
    });
  }

  it('signs what each request must carry: nothing but the host for a read, type, length and caching for a store, never If-None-Match', async () => {
    const signer = presigner({ endpoint: 'http://127.0.0.1:9000' });
    const ownUrl = async (operation: 'get' | 'head' | 'store', input: object = {}) => {
      const target = await signer.presignOwn(operation, { key: 'img/a.webp', ...signing, ...input });
      return new URL(`${target?.origin}${target?.path}`);
    };
    const signedHeaders = async (operation: 'get' | 'head' | 'store', input: object) => (await ownUrl(operation, input)).searchParams.get('X-Amz-SignedHeaders');
    expect(await signedHeaders('get', {})).toBe('host');
    expect(await signedHeaders('head', {})).toBe('host');
    expect(await signedHeaders('store', stored)).toBe('cache-control;content-length;content-type;host');
    const get = await ownUrl('get');
    expect(get.searchParams.get('x-id')).toBe('GetObject');
    expect(get.pathname).toBe('/test-bucket/img/a.webp');
  });

  it('answers undefined (send through the SDK) while a capture that threw waits for its retry, and reports it', async () => {
    const client = createS3Client({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: undefined, credentials: staticCredentials });
    const fallbacks: string[] = [];
    const now = signing.signingDate.getTime();
    const signer = new S3Presigner(client, 'test-bucket', { now: () => now, onFallback: (reason) => fallbacks.push(reason) });
    client.middlewareStack.add(
      (next) => async (args) => {
        if ((args.input as { Key?: string }).Key === 'darkroom-presign-template-key') throw new Error('capture broke');
        return next(args);
      },
      { step: 'initialize', name: 'breakCapture' },
    );
    expect(await signer.presignOwn('get', { key: 'img/a.webp', ...signing })).toBeUndefined();
    expect(await signer.presignOwn('get', { key: 'img/b.webp', ...signing })).toBeUndefined();
    expect(fallbacks).toEqual(['error']);
  });
});
