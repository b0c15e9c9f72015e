/**
 * The SigV4 verifier against AWS's published examples (known answers, not self-consistency),
 * then against URLs and requests signed by the real AWS SDK, tampered with one field at a time.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  canonicalHeaders,
  canonicalHeaderValue,
  canonicalQueryString,
  canonicalRequest,
  canonicalUri,
  computeSignature,
  deriveSigningKey,
  parseAuthorizationHeader,
  sha256Hex,
  stringToSign,
  toAmzDate,
  uriEncode,
  verifySigV4,
} from '../../src/devstorage/sigv4.js';
import type { SigV4Options, SigV4Request, SigV4Verdict } from '../../src/devstorage/sigv4.js';

// --- AWS's example credentials (S3 API Reference, "Authenticating Requests" examples) ---
const EXAMPLE_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const EXAMPLE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const EXAMPLE_HOST = 'examplebucket.s3.amazonaws.com';

const exampleLookup = (id: string): string | undefined => (id === EXAMPLE_KEY_ID ? EXAMPLE_SECRET : undefined);

function failure(verdict: SigV4Verdict): { status: number; code: string; message: string; detail?: Record<string, string> } {
  if (verdict.ok) throw new Error('expected the request to be refused');
  return verdict;
}

describe('AWS published example: presigned GET (query-string authentication)', () => {
  // "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", the example
  // presigned GET of examplebucket/test.txt, 2013-05-24T00:00:00Z, valid 86400 s.
  const query =
    'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host';
  const signature = 'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
  const publishedCanonicalRequest = [
    'GET',
    '/test.txt',
    query,
    'host:examplebucket.s3.amazonaws.com',
    '',
    'host',
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const publishedStringToSign = [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    '3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04',
  ].join('\n');
  const request: SigV4Request = {
    method: 'GET',
    rawUrl: `/test.txt?${query}&X-Amz-Signature=${signature}`,
    headers: { host: EXAMPLE_HOST },
  };

  it('builds the published canonical request, string to sign and signature', () => {
    const canonical = canonicalRequest({
      method: 'GET',
      canonicalUri: canonicalUri('/test.txt'),
      canonicalQueryString: canonicalQueryString(`${query}&X-Amz-Signature=${signature}`, ['X-Amz-Signature']),
      canonicalHeaders: canonicalHeaders({ host: EXAMPLE_HOST }, ['host']),
      signedHeaders: ['host'],
      payloadHash: 'UNSIGNED-PAYLOAD',
    });
    expect(canonical).toBe(publishedCanonicalRequest);
    const toSign = stringToSign({ amzDate: '20130524T000000Z', scope: '20130524/us-east-1/s3/aws4_request', canonicalRequest: canonical });
    expect(toSign).toBe(publishedStringToSign);
    expect(computeSignature(deriveSigningKey(EXAMPLE_SECRET, '20130524', 'us-east-1', 's3'), toSign)).toBe(signature);
  });

  it('accepts the published URL while it is valid', () => {
    for (const now of ['2013-05-24T00:00:00Z', '2013-05-24T12:00:00Z', '2013-05-25T00:00:00Z']) {
      expect(verifySigV4(request, { lookupSecret: exampleLookup, now: new Date(now) })).toEqual({ ok: true, accessKeyId: EXAMPLE_KEY_ID });
    }
  });

  it('refuses it one second after X-Amz-Date + X-Amz-Expires', () => {
    const verdict = failure(verifySigV4(request, { lookupSecret: exampleLookup, now: new Date('2013-05-25T00:00:01Z') }));
    expect(verdict).toMatchObject({ status: 403, code: 'AccessDenied', message: 'Request has expired' });
  });

  it('refuses it under another secret, with the computed canonical request in the detail', () => {
    const verdict = failure(verifySigV4(request, { lookupSecret: () => 'not-the-secret', now: new Date('2013-05-24T00:00:00Z') }));
    expect(verdict).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(verdict.detail?.CanonicalRequest).toBe(publishedCanonicalRequest);
    expect(verdict.detail?.StringToSign).toBe(publishedStringToSign);
  });
});

describe('AWS published example: GET Object with the Authorization header', () => {
  // "Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk",
  // example "GET Object": bytes 0-9 of examplebucket/test.txt, 2013-05-24T00:00:00Z.
  const signature = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';
  const headers = {
    host: EXAMPLE_HOST,
    range: 'bytes=0-9',
    'x-amz-content-sha256': EMPTY_SHA256,
    'x-amz-date': '20130524T000000Z',
  };
  const signedHeaders = ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'];
  const publishedCanonicalRequest = [
    'GET',
    '/test.txt',
    '',
    'host:examplebucket.s3.amazonaws.com',
    'range:bytes=0-9',
    `x-amz-content-sha256:${EMPTY_SHA256}`,
    'x-amz-date:20130524T000000Z',
    '',
    'host;range;x-amz-content-sha256;x-amz-date',
    EMPTY_SHA256,
  ].join('\n');
  const publishedStringToSign = [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    '7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972',
  ].join('\n');
  const authorization = `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=${signature}`;
  const at = (iso: string): SigV4Options => ({ lookupSecret: exampleLookup, now: new Date(iso) });

  it('builds the published canonical request, string to sign and signature', () => {
    const canonical = canonicalRequest({
      method: 'GET',
      canonicalUri: canonicalUri('/test.txt'),
      canonicalQueryString: canonicalQueryString(''),
      canonicalHeaders: canonicalHeaders(headers, signedHeaders),
      signedHeaders,
      payloadHash: EMPTY_SHA256,
    });
    expect(canonical).toBe(publishedCanonicalRequest);
    expect(sha256Hex('')).toBe(EMPTY_SHA256);
    const toSign = stringToSign({ amzDate: '20130524T000000Z', scope: '20130524/us-east-1/s3/aws4_request', canonicalRequest: canonical });
    expect(toSign).toBe(publishedStringToSign);
    expect(computeSignature(deriveSigningKey(EXAMPLE_SECRET, '20130524', 'us-east-1', 's3'), toSign)).toBe(signature);
  });

  it('accepts the published request within 15 minutes of x-amz-date', () => {
    const request = { method: 'GET', rawUrl: '/test.txt', headers: { ...headers, authorization } };
    // A declared payload hash is handed back for the caller to check against the body it reads.
    expect(verifySigV4(request, at('2013-05-24T00:00:00Z'))).toEqual({ ok: true, accessKeyId: EXAMPLE_KEY_ID, bodySha256: EMPTY_SHA256 });
    expect(verifySigV4(request, at('2013-05-24T00:15:00Z')).ok).toBe(true);
    expect(verifySigV4(request, at('2013-05-23T23:45:00Z')).ok).toBe(true);
  });

  it('refuses it when the clocks are more than 15 minutes apart', () => {
    const request = { method: 'GET', rawUrl: '/test.txt', headers: { ...headers, authorization } };
    expect(failure(verifySigV4(request, at('2013-05-24T00:15:01Z')))).toMatchObject({ status: 403, code: 'RequestTimeTooSkewed' });
    expect(failure(verifySigV4(request, at('2013-05-23T23:44:59Z')))).toMatchObject({ status: 403, code: 'RequestTimeTooSkewed' });
  });

  it('refuses it when a signed header changes or goes missing', () => {
    const changed = { method: 'GET', rawUrl: '/test.txt', headers: { ...headers, range: 'bytes=0-99', authorization } };
    expect(failure(verifySigV4(changed, at('2013-05-24T00:00:00Z'))).code).toBe('SignatureDoesNotMatch');
    const { range: _range, ...withoutRange } = headers;
    const missing = { method: 'GET', rawUrl: '/test.txt', headers: { ...withoutRange, authorization } };
    const verdict = failure(verifySigV4(missing, at('2013-05-24T00:00:00Z')));
    expect(verdict.code).toBe('SignatureDoesNotMatch');
    expect(verdict.detail?.CanonicalRequest).toContain('\nrange:\n');
  });

  it('parses the header with or without spaces after the commas', () => {
    expect(parseAuthorizationHeader(authorization)).toEqual({
      credential: 'AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request',
      signedHeaders: 'host;range;x-amz-content-sha256;x-amz-date',
      signature,
    });
    expect(parseAuthorizationHeader(authorization.replaceAll(',', ', '))).toEqual(parseAuthorizationHeader(authorization));
  });
});

describe('signing key derivation', () => {
  it('matches the published derivation example (IAM User Guide, "derive a signing key")', () => {
    const key = deriveSigningKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam');
    expect(key.toString('hex')).toBe('f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
  });
});

describe('canonical forms: URI-encoding edge cases', () => {
  it('encodes every byte except the unreserved set, a space as %20', () => {
    expect(uriEncode('AZaz09-_.~')).toBe('AZaz09-_.~');
    expect(uriEncode('a b+c/d*é')).toBe('a%20b%2Bc%2Fd%2A%C3%A9');
    expect(uriEncode('a b/c', false)).toBe('a%20b/c');
    expect(uriEncode('😀')).toBe('%F0%9F%98%80');
  });

  it('keeps the path as sent, only bringing it into the encoded form', () => {
    expect(canonicalUri('/b/a%20b/c%2Bd/%C3%A9%25.png')).toBe('/b/a%20b/c%2Bd/%C3%A9%25.png');
    // %2F inside a segment stays an encoded slash; lower-case hex is upper-cased.
    expect(canonicalUri('/b/a%2fb')).toBe('/b/a%2Fb');
    // In a path '+' is a plus, not a space.
    expect(canonicalUri('/b/a+b')).toBe('/b/a%2Bb');
    // Raw (unencoded) UTF-8 and characters outside the unreserved set are encoded.
    expect(canonicalUri('/b/é(1)')).toBe('/b/%C3%A9%281%29');
    // No normalisation: S3 keys may contain '.', '..' and empty segments.
    expect(canonicalUri('/b/./x//../y')).toBe('/b/./x//../y');
    // A stray '%' is a literal percent sign; escapes of non-UTF-8 bytes survive.
    expect(canonicalUri('/b/100%')).toBe('/b/100%25');
    expect(canonicalUri('/b/%FF')).toBe('/b/%FF');
    expect(canonicalUri('')).toBe('/');
  });

  it('decodes and re-encodes query parameters and sorts them by name, then value', () => {
    expect(canonicalQueryString('b=2&a=1&a=0&c')).toBe('a=0&a=1&b=2&c=');
    expect(canonicalQueryString('q=a%20b')).toBe('q=a%20b');
    expect(canonicalQueryString('q=a+b')).toBe('q=a%20b');
    expect(canonicalQueryString('q=a%2Bb')).toBe('q=a%2Bb');
    expect(canonicalQueryString('prefix=dir%2fsub/')).toBe('prefix=dir%2Fsub%2F');
    expect(canonicalQueryString('k=é&k2=%E2%82%AC')).toBe('k=%C3%A9&k2=%E2%82%AC');
    expect(canonicalQueryString('uploads&x=1&&')).toBe('uploads=&x=1');
    expect(canonicalQueryString('A=1&a=1&_=1&~=1')).toBe('A=1&_=1&a=1&~=1');
    expect(canonicalQueryString('a=1&X-Amz-Signature=abc', ['X-Amz-Signature'])).toBe('a=1');
  });

  it('trims header values and collapses inner runs of spaces', () => {
    expect(canonicalHeaderValue('  image/png   ; charset =  x ')).toBe('image/png ; charset = x');
    expect(canonicalHeaderValue(['a ', ' b'])).toBe('a,b');
    expect(canonicalHeaderValue(undefined)).toBe('');
  });
});

// --- Requests signed by the real AWS SDK ---------------------------------------------------

const KEY_ID = 'DARKROOMDEVKEY';
const SECRET = 'darkroom-dev-secret/with+odd=chars';
const HOST = '127.0.0.1:9000';
const lookup = (id: string): string | undefined => (id === KEY_ID ? SECRET : undefined);

function sdkClient(secret = SECRET, keyId = KEY_ID): S3Client {
  return new S3Client({
    endpoint: `http://${HOST}`,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: keyId, secretAccessKey: secret },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

interface PresignedPut {
  url: URL;
  request: SigV4Request;
}

async function presignPut(
  options: { key?: string; contentType?: string; contentLength?: number; expiresIn?: number; signingDate?: Date; secret?: string; keyId?: string } = {},
): Promise<PresignedPut> {
  const key = options.key ?? 'apps/demo/originals/abc.png';
  const contentType = options.contentType ?? 'image/png';
  const contentLength = options.contentLength ?? 1234;
  const url = new URL(
    await getSignedUrl(
      sdkClient(options.secret, options.keyId),
      new PutObjectCommand({ Bucket: 'dev-bucket', Key: key, ContentType: contentType, ContentLength: contentLength }),
      {
        expiresIn: options.expiresIn ?? 300,
        signableHeaders: new Set(['content-type', 'content-length']),
        ...(options.signingDate ? { signingDate: options.signingDate } : {}),
      },
    ),
  );
  return {
    url,
    request: {
      method: 'PUT',
      rawUrl: url.pathname + url.search,
      headers: { host: url.host, 'content-type': contentType, 'content-length': String(contentLength) },
    },
  };
}

const nowOpts = (now = new Date()): SigV4Options => ({ lookupSecret: lookup, now });

describe('presigned PUT URLs from the SDK presigner', () => {
  it('accepts the request made with exactly the signed headers', async () => {
    const { request } = await presignPut();
    expect(verifySigV4(request, nowOpts())).toEqual({ ok: true, accessKeyId: KEY_ID });
  });

  it('accepts keys with spaces, plus signs, unicode and an encoded slash', async () => {
    for (const key of ['a b/c+d.png', 'ünïcødé/日本語 😀.png', 'odd%2Fname/100%.png', "sym!'()*&$@=;:,?.png"]) {
      const { request } = await presignPut({ key });
      expect(verifySigV4(request, nowOpts()), key).toEqual({ ok: true, accessKeyId: KEY_ID });
    }
  });

  it('accepts any key the SDK signs, and refuses it for any other key', async () => {
    const key = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 });
    await fc.assert(
      fc.asyncProperty(key, key, async (signedKey, otherKey) => {
        fc.pre(signedKey !== otherKey);
        const signed = await presignPut({ key: signedKey });
        expect(verifySigV4(signed.request, nowOpts()).ok).toBe(true);
        const other = await presignPut({ key: otherKey });
        const swapped = { ...signed.request, rawUrl: other.url.pathname + signed.url.search };
        expect(failure(verifySigV4(swapped, nowOpts())).code).toBe('SignatureDoesNotMatch');
      }),
      { numRuns: 100 },
    );
  });

  it('accepts the same URL with lower-case percent escapes (S3 decodes before canonicalising)', async () => {
    const { request } = await presignPut({ key: 'é.png' });
    const lowered = request.rawUrl.replace(/%C3%A9/g, '%c3%a9');
    expect(lowered).not.toBe(request.rawUrl);
    expect(verifySigV4({ ...request, rawUrl: lowered }, nowOpts()).ok).toBe(true);
  });

  it('refuses another Content-Type', async () => {
    const { request } = await presignPut();
    const verdict = verifySigV4({ ...request, headers: { ...request.headers, 'content-type': 'text/html' } }, nowOpts());
    expect(failure(verdict)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses another Content-Length', async () => {
    const { request } = await presignPut({ contentLength: 1000 });
    const verdict = verifySigV4({ ...request, headers: { ...request.headers, 'content-length': '1001' } }, nowOpts());
    expect(failure(verdict)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses a request lacking a signed header (e.g. chunked, without Content-Length)', async () => {
    const { request } = await presignPut();
    const { 'content-length': _cl, ...rest } = request.headers;
    const verdict = verifySigV4({ ...request, headers: { ...rest, 'transfer-encoding': 'chunked' } }, nowOpts());
    expect(failure(verdict).code).toBe('SignatureDoesNotMatch');
  });

  it('refuses another key, another bucket, another host or another method', async () => {
    const { request, url } = await presignPut({ key: 'apps/demo/a.png' });
    const otherKey = request.rawUrl.replace('/a.png?', '/b.png?');
    expect(failure(verifySigV4({ ...request, rawUrl: otherKey }, nowOpts())).code).toBe('SignatureDoesNotMatch');
    const otherBucket = request.rawUrl.replace('/dev-bucket/', '/other-bucket/');
    expect(failure(verifySigV4({ ...request, rawUrl: otherBucket }, nowOpts())).code).toBe('SignatureDoesNotMatch');
    const otherHost = { ...request.headers, host: `localhost:${url.port}` };
    expect(failure(verifySigV4({ ...request, headers: otherHost }, nowOpts())).code).toBe('SignatureDoesNotMatch');
    expect(failure(verifySigV4({ ...request, method: 'POST' }, nowOpts())).code).toBe('SignatureDoesNotMatch');
  });

  it('refuses an added or changed query parameter', async () => {
    const { request } = await presignPut();
    expect(failure(verifySigV4({ ...request, rawUrl: `${request.rawUrl}&acl=` }, nowOpts())).code).toBe('SignatureDoesNotMatch');
    const longer = request.rawUrl.replace('X-Amz-Expires=300', 'X-Amz-Expires=3600');
    expect(failure(verifySigV4({ ...request, rawUrl: longer }, nowOpts())).code).toBe('SignatureDoesNotMatch');
  });

  it('refuses a forged or truncated signature', async () => {
    const { request, url } = await presignPut();
    const signature = url.searchParams.get('X-Amz-Signature') ?? '';
    const flipped = signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0');
    for (const forged of [flipped, signature.slice(0, 10), signature.toUpperCase(), '']) {
      const rawUrl = request.rawUrl.replace(`X-Amz-Signature=${signature}`, `X-Amz-Signature=${forged}`);
      expect(failure(verifySigV4({ ...request, rawUrl }, nowOpts())).code).toBe('SignatureDoesNotMatch');
    }
  });

  it('refuses a URL signed with the wrong secret', async () => {
    const { request } = await presignPut({ secret: 'guessed-secret' });
    expect(failure(verifySigV4(request, nowOpts()))).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses an unknown access key', async () => {
    const { request } = await presignPut({ keyId: 'AKIAUNKNOWN' });
    expect(failure(verifySigV4(request, nowOpts()))).toMatchObject({ status: 403, code: 'InvalidAccessKeyId' });
  });

  it('refuses an expired URL, and one dated in the future', async () => {
    const signedAt = new Date(Date.UTC(2030, 0, 1, 12, 0, 0));
    const { request } = await presignPut({ signingDate: signedAt, expiresIn: 60 });
    expect(verifySigV4(request, nowOpts(new Date(signedAt.getTime() + 60_000))).ok).toBe(true);
    const expired = failure(verifySigV4(request, nowOpts(new Date(signedAt.getTime() + 61_000))));
    expect(expired).toMatchObject({ status: 403, code: 'AccessDenied', message: 'Request has expired' });
    const early = failure(verifySigV4(request, nowOpts(new Date(signedAt.getTime() - 16 * 60_000))));
    expect(early).toMatchObject({ status: 403, code: 'AccessDenied', message: 'Request is not yet valid' });
  });

  it('refuses x-amz-* headers that were not signed', async () => {
    const { request } = await presignPut();
    const verdict = verifySigV4({ ...request, headers: { ...request.headers, 'x-amz-acl': 'public-read' } }, nowOpts());
    expect(failure(verdict)).toMatchObject({ status: 403, code: 'AccessDenied', detail: { HeadersNotSigned: 'x-amz-acl' } });
  });

  it("treats '+' in the query as a space, so form-encoded spaces verify", async () => {
    const url = new URL(
      await getSignedUrl(
        sdkClient(),
        new GetObjectCommand({ Bucket: 'dev-bucket', Key: 'k.png', ResponseContentDisposition: 'attachment; filename="a b.png"' }),
        { expiresIn: 300 },
      ),
    );
    const request = { method: 'GET', rawUrl: url.pathname + url.search, headers: { host: url.host } };
    expect(verifySigV4(request, nowOpts()).ok).toBe(true);
    expect(request.rawUrl).toContain('%20');
    expect(verifySigV4({ ...request, rawUrl: request.rawUrl.replaceAll('%20', '+') }, nowOpts()).ok).toBe(true);
  });
});

describe('requests signed with the Authorization header by the SDK', () => {
  /** Runs a command through the SDK up to the wire and returns the request it would have sent. */
  async function capture(command: GetObjectCommand | PutObjectCommand, secret = SECRET): Promise<SigV4Request> {
    let captured: { method: string; path: string; query: Record<string, unknown>; headers: Record<string, string> } | undefined;
    const client = new S3Client({
      endpoint: `http://${HOST}`,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: KEY_ID, secretAccessKey: secret },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      maxAttempts: 1,
      requestHandler: {
        handle: async (request: typeof captured) => {
          captured = request;
          throw new Error('captured');
        },
      },
    });
    await expect(client.send(command)).rejects.toThrow('captured');
    if (!captured) throw new Error('nothing captured');
    const search = Object.entries(captured.query)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    return { method: captured.method, rawUrl: captured.path + (search ? `?${search}` : ''), headers: captured.headers };
  }

  it('accepts GetObject and PutObject as signed', async () => {
    const get = await capture(new GetObjectCommand({ Bucket: 'dev-bucket', Key: 'dir/a b+é.png', Range: 'bytes=0-9' }));
    expect(get.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    expect(verifySigV4(get, nowOpts())).toEqual({ ok: true, accessKeyId: KEY_ID, bodySha256: EMPTY_SHA256 });
    const put = await capture(new PutObjectCommand({ Bucket: 'dev-bucket', Key: 'k', Body: 'hello', ContentType: 'text/plain' }));
    expect(verifySigV4(put, nowOpts())).toEqual({ ok: true, accessKeyId: KEY_ID, bodySha256: sha256Hex('hello') });
  });

  it('refuses a changed path, a changed signed header, a wrong secret', async () => {
    const get = await capture(new GetObjectCommand({ Bucket: 'dev-bucket', Key: 'a.png', Range: 'bytes=0-9' }));
    expect(failure(verifySigV4({ ...get, rawUrl: get.rawUrl.replace('a.png', 'b.png') }, nowOpts())).code).toBe('SignatureDoesNotMatch');
    expect(failure(verifySigV4({ ...get, headers: { ...get.headers, range: 'bytes=0-99' } }, nowOpts())).code).toBe('SignatureDoesNotMatch');
    const wrong = await capture(new GetObjectCommand({ Bucket: 'dev-bucket', Key: 'a.png' }), 'wrong-secret');
    expect(failure(verifySigV4(wrong, nowOpts())).code).toBe('SignatureDoesNotMatch');
  });

  it('refuses a request without x-amz-content-sha256, or with a skewed clock', async () => {
    const get = await capture(new GetObjectCommand({ Bucket: 'dev-bucket', Key: 'a.png' }));
    const { 'x-amz-content-sha256': _sha, ...rest } = get.headers as Record<string, string>;
    expect(failure(verifySigV4({ ...get, headers: rest }, nowOpts()))).toMatchObject({ status: 400, code: 'InvalidRequest' });
    const later = new Date(Date.now() + 16 * 60_000);
    expect(failure(verifySigV4(get, nowOpts(later)))).toMatchObject({ status: 403, code: 'RequestTimeTooSkewed' });
  });
});

describe('malformed or missing authentication', () => {
  const base = {
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${KEY_ID}/20300101/us-east-1/s3/aws4_request`,
    'X-Amz-Date': '20300101T000000Z',
    'X-Amz-Expires': '300',
    'X-Amz-SignedHeaders': 'host',
    'X-Amz-Signature': '0'.repeat(64),
  };
  const at = nowOpts(new Date(Date.UTC(2030, 0, 1, 0, 1, 0)));
  const withParams = (changes: Record<string, string | undefined>): SigV4Request => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...base, ...changes })) if (v !== undefined) params.set(k, v);
    return { method: 'GET', rawUrl: `/dev-bucket/k?${params.toString()}`, headers: { host: HOST } };
  };

  it('reaches the signature check when the parameters are well-formed', () => {
    expect(failure(verifySigV4(withParams({}), at)).code).toBe('SignatureDoesNotMatch');
  });

  it.each([
    ['X-Amz-Expires not a number', { 'X-Amz-Expires': 'soon' }],
    ['X-Amz-Expires negative', { 'X-Amz-Expires': '-5' }],
    ['X-Amz-Expires zero', { 'X-Amz-Expires': '0' }],
    ['X-Amz-Expires over a week', { 'X-Amz-Expires': '604801' }],
    ['X-Amz-Expires fractional', { 'X-Amz-Expires': '1.5' }],
    ['another algorithm', { 'X-Amz-Algorithm': 'AWS4-HMAC-SHA512' }],
    ['missing X-Amz-Credential', { 'X-Amz-Credential': undefined }],
    ['missing X-Amz-Signature', { 'X-Amz-Signature': undefined }],
    ['missing X-Amz-SignedHeaders', { 'X-Amz-SignedHeaders': undefined }],
    ['missing X-Amz-Date', { 'X-Amz-Date': undefined }],
    ['X-Amz-Date not ISO 8601 basic', { 'X-Amz-Date': '2030-01-01T00:00:00Z' }],
    ['X-Amz-Date impossible', { 'X-Amz-Date': '20301301T000000Z' }],
    ['credential with too few parts', { 'X-Amz-Credential': `${KEY_ID}/20300101/us-east-1` }],
    ['credential date not X-Amz-Date', { 'X-Amz-Credential': `${KEY_ID}/20300102/us-east-1/s3/aws4_request` }],
    ['credential for another service', { 'X-Amz-Credential': `${KEY_ID}/20300101/us-east-1/ec2/aws4_request` }],
    ['credential with another terminator', { 'X-Amz-Credential': `${KEY_ID}/20300101/us-east-1/s3/aws5_request` }],
    ['host not signed', { 'X-Amz-SignedHeaders': 'content-type' }],
    ['upper-case signed header names', { 'X-Amz-SignedHeaders': 'Host' }],
  ])('refuses %s with AuthorizationQueryParametersError', (_name, changes) => {
    expect(failure(verifySigV4(withParams(changes), at))).toMatchObject({ status: 400, code: 'AuthorizationQueryParametersError' });
  });

  it('accepts X-Amz-Expires of exactly one week as well-formed', () => {
    expect(failure(verifySigV4(withParams({ 'X-Amz-Expires': '604800' }), at)).code).toBe('SignatureDoesNotMatch');
  });

  it('refuses a duplicated X-Amz-* parameter', () => {
    const request = withParams({});
    const verdict = verifySigV4({ ...request, rawUrl: `${request.rawUrl}&X-Amz-Date=20300101T000000Z` }, at);
    expect(failure(verdict).code).toBe('AuthorizationQueryParametersError');
  });

  it('refuses a request without any authentication', () => {
    const verdict = verifySigV4({ method: 'GET', rawUrl: '/dev-bucket/k.png', headers: { host: HOST } }, at);
    expect(failure(verdict)).toMatchObject({ status: 403, code: 'AccessDenied' });
  });

  it('refuses Signature Version 2 and mixed mechanisms', () => {
    const v2 = { method: 'GET', rawUrl: `/dev-bucket/k?AWSAccessKeyId=${KEY_ID}&Expires=1900000000&Signature=abc`, headers: { host: HOST } };
    expect(failure(verifySigV4(v2, at))).toMatchObject({ status: 400, code: 'InvalidRequest' });
    const v2Header = { method: 'GET', rawUrl: '/dev-bucket/k', headers: { host: HOST, authorization: `AWS ${KEY_ID}:abc` } };
    expect(failure(verifySigV4(v2Header, at))).toMatchObject({ status: 400, code: 'InvalidRequest' });
    const both = withParams({});
    const mixed = { ...both, headers: { ...both.headers, authorization: 'AWS4-HMAC-SHA256 Credential=x' } };
    expect(failure(verifySigV4(mixed, at))).toMatchObject({ status: 400, code: 'InvalidArgument' });
  });

  it.each([
    ['no components', 'AWS4-HMAC-SHA256'],
    ['a missing component', `AWS4-HMAC-SHA256 Credential=${KEY_ID}/20300101/us-east-1/s3/aws4_request, SignedHeaders=host`],
    ['a component without a value', `AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=${'0'.repeat(64)}`],
    ['a bad credential', `AWS4-HMAC-SHA256 Credential=${KEY_ID}, SignedHeaders=host, Signature=${'0'.repeat(64)}`],
    ['host not signed', `AWS4-HMAC-SHA256 Credential=${KEY_ID}/20300101/us-east-1/s3/aws4_request, SignedHeaders=x-amz-date, Signature=${'0'.repeat(64)}`],
  ])('refuses an Authorization header with %s as AuthorizationHeaderMalformed', (_name, authorization) => {
    const request = {
      method: 'GET',
      rawUrl: '/dev-bucket/k',
      headers: { host: HOST, authorization, 'x-amz-date': '20300101T000000Z', 'x-amz-content-sha256': EMPTY_SHA256 },
    };
    expect(failure(verifySigV4(request, at))).toMatchObject({ status: 400, code: 'AuthorizationHeaderMalformed' });
  });

  it('refuses an unsupported Authorization scheme and a missing x-amz-date', () => {
    const bearer = { method: 'GET', rawUrl: '/dev-bucket/k', headers: { host: HOST, authorization: 'Bearer abc' } };
    expect(failure(verifySigV4(bearer, at))).toMatchObject({ status: 400, code: 'InvalidArgument' });
    const noDate = {
      method: 'GET',
      rawUrl: '/dev-bucket/k',
      headers: {
        host: HOST,
        'x-amz-content-sha256': EMPTY_SHA256,
        authorization: `AWS4-HMAC-SHA256 Credential=${KEY_ID}/20300101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`,
      },
    };
    expect(failure(verifySigV4(noDate, at))).toMatchObject({ status: 403, code: 'AccessDenied' });
  });

  it('never throws on garbage input', () => {
    const inputs: SigV4Request[] = [
      { method: 'GET', rawUrl: '', headers: {} },
      { method: 'GET', rawUrl: '?', headers: {} },
      { method: 'GET', rawUrl: '/%?%&=&X-Amz-Algorithm', headers: { host: undefined } },
      { method: 'GET', rawUrl: '/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%E0%A4%A', headers: {} },
      { method: 'PUT', rawUrl: 'http://evil.example/x?X-Amz-Signature=1', headers: { authorization: ['a', 'b'] } },
      { method: 'GET', rawUrl: '/\uD800?\uDFFF=1', headers: { authorization: '' } },
    ];
    for (const request of inputs) {
      const verdict = verifySigV4(request, at);
      expect(verdict.ok).toBe(false);
    }
  });

  it('formats X-Amz-Date values', () => {
    expect(toAmzDate(new Date(Date.UTC(2013, 4, 24, 0, 0, 0, 123)))).toBe('20130524T000000Z');
  });
});
