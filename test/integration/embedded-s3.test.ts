/**
 * The embedded S3 end to end: s3rver behind the SigV4-verifying proxy, driven with URLs presigned
 * by the real AWS SDK and requests made the way a browser (fetch) and darkroom (the SDK) make them.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startEmbeddedS3 } from '../../src/devstorage/embedded-s3.js';
import type { EmbeddedS3 } from '../../src/devstorage/embedded-s3.js';
import { startVerifyingProxy } from '../../src/devstorage/verifying-proxy.js';
import { freePort } from '../support/stack.js';

const BUCKET = 'darkroom-it';
const CREDENTIALS = { accessKeyId: 'DARKROOMITKEY', secretAccessKey: 'it-secret/with+chars=' };
const BROWSER_ORIGIN = 'http://localhost:5173';

let s3: EmbeddedS3;
let client: S3Client;

function sdkClient(endpoint: string, secretAccessKey = CREDENTIALS.secretAccessKey): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

beforeAll(async () => {
  s3 = await startEmbeddedS3({ bucket: BUCKET, credentials: CREDENTIALS, corsAllowedOrigins: [BROWSER_ORIGIN] });
  client = sdkClient(s3.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await s3?.close();
});

/** A presigned PUT binding key, Content-Type and Content-Length, as darkroom issues them. */
async function presignPut(
  key: string,
  contentType: string,
  contentLength: number,
  options: { expiresIn?: number; signingDate?: Date; secretAccessKey?: string } = {},
): Promise<string> {
  const signer = options.secretAccessKey ? sdkClient(s3.endpoint, options.secretAccessKey) : client;
  return getSignedUrl(signer, new PutObjectCommand({ Bucket: BUCKET, Key: key, ContentType: contentType, ContentLength: contentLength }), {
    expiresIn: options.expiresIn ?? 300,
    signableHeaders: new Set(['content-type', 'content-length']),
    ...(options.signingDate ? { signingDate: options.signingDate } : {}),
  });
}

async function errorOf(response: Response): Promise<{ status: number; code: string | undefined; message: string | undefined; body: string }> {
  const body = await response.text();
  return {
    status: response.status,
    code: /<Code>([^<]*)<\/Code>/.exec(body)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(body)?.[1],
    body,
  };
}

async function exists(key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

describe('embedded S3: presigned uploads', () => {
  it('accepts a PUT with exactly the signed headers; the object reads back byte for byte through the SDK', async () => {
    const body = randomBytes(4096);
    const key = `uploads/${randomBytes(4).toString('hex')}.png`;
    const url = await presignPut(key, 'image/png', body.length);
    const put = await fetch(url, { method: 'PUT', body, headers: { 'content-type': 'image/png' } });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(put.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);

    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(got.ContentType).toBe('image/png');
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentLength).toBe(body.length);
  });

  it('handles keys with spaces, plus signs and unicode end to end', async () => {
    const body = Buffer.from('odd key');
    const key = `uploads/a b+c/ünï ☃ ${randomBytes(2).toString('hex')}.txt`;
    const put = await fetch(await presignPut(key, 'text/plain', body.length), { method: 'PUT', body, headers: { 'content-type': 'text/plain' } });
    expect(put.status, await put.clone().text()).toBe(200);
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(await got.Body!.transformToString()).toBe('odd key');
  });

  it('refuses another Content-Type', async () => {
    const key = 'uploads/type.png';
    const url = await presignPut(key, 'image/png', 3);
    const error = await errorOf(await fetch(url, { method: 'PUT', body: 'abc', headers: { 'content-type': 'text/html' } }));
    expect(error).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await exists(key)).toBe(false);
  });

  it('refuses another length', async () => {
    const key = 'uploads/length.png';
    const url = await presignPut(key, 'image/png', 10);
    const error = await errorOf(await fetch(url, { method: 'PUT', body: Buffer.alloc(11), headers: { 'content-type': 'image/png' } }));
    expect(error).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await exists(key)).toBe(false);
  });

  it('refuses another key', async () => {
    const url = await presignPut('uploads/mine.png', 'image/png', 3);
    const other = url.replace('/uploads/mine.png?', '/uploads/yours.png?');
    expect(other).not.toBe(url);
    const error = await errorOf(await fetch(other, { method: 'PUT', body: 'abc', headers: { 'content-type': 'image/png' } }));
    expect(error).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await exists('uploads/yours.png')).toBe(false);
  });

  it('refuses a forged signature', async () => {
    const url = new URL(await presignPut('uploads/forged.png', 'image/png', 3));
    url.searchParams.set('X-Amz-Signature', 'f'.repeat(64));
    const error = await errorOf(await fetch(url, { method: 'PUT', body: 'abc', headers: { 'content-type': 'image/png' } }));
    expect(error).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await exists('uploads/forged.png')).toBe(false);
  });

  it('refuses a URL signed with the wrong secret', async () => {
    const url = await presignPut('uploads/wrong-secret.png', 'image/png', 3, { secretAccessKey: 'not-the-secret' });
    const error = await errorOf(await fetch(url, { method: 'PUT', body: 'abc', headers: { 'content-type': 'image/png' } }));
    expect(error).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await exists('uploads/wrong-secret.png')).toBe(false);
  });

  it('refuses a URL after it expired', async () => {
    const url = await presignPut('uploads/late.png', 'image/png', 3, { expiresIn: 60, signingDate: new Date(Date.now() - 10 * 60_000) });
    const error = await errorOf(await fetch(url, { method: 'PUT', body: 'abc', headers: { 'content-type': 'image/png' } }));
    expect(error).toMatchObject({ status: 403, code: 'AccessDenied', message: 'Request has expired' });
    expect(await exists('uploads/late.png')).toBe(false);
  });

  it('refuses a request that is not authenticated at all', async () => {
    const key = 'uploads/anonymous.txt';
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'secret', ContentType: 'text/plain' }));
    const get = await errorOf(await fetch(`${s3.endpoint}/${BUCKET}/${key}`));
    expect(get).toMatchObject({ status: 403, code: 'AccessDenied' });
    const put = await errorOf(await fetch(`${s3.endpoint}/${BUCKET}/uploads/anonymous-put.txt`, { method: 'PUT', body: 'x' }));
    expect(put).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(await exists('uploads/anonymous-put.txt')).toBe(false);
  });

  it('answers with S3-shaped XML errors', async () => {
    const response = await fetch(`${s3.endpoint}/${BUCKET}/nothing`);
    expect(response.headers.get('content-type')).toBe('application/xml');
    const body = await response.text();
    expect(body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><Error><Code>AccessDenied<\/Code><Message>[^<]+<\/Message>.*<RequestId>[0-9A-F]{16}<\/RequestId><\/Error>$/);
  });
});

describe('embedded S3: CORS for browser uploads', () => {
  it('answers a preflight from an allowed origin', async () => {
    const url = await presignPut('uploads/cors.png', 'image/png', 3);
    const response = await fetch(url, {
      method: 'OPTIONS',
      headers: { origin: BROWSER_ORIGIN, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toMatch(/^(\*|http:\/\/localhost:5173)$/);
    expect(response.headers.get('access-control-allow-methods')).toContain('PUT');
    expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
  });

  it('lets the browser read the ETag of an upload', async () => {
    const url = await presignPut('uploads/cors-put.png', 'image/png', 3);
    const response = await fetch(url, { method: 'PUT', body: 'abc', headers: { 'content-type': 'image/png', origin: BROWSER_ORIGIN } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeTruthy();
    expect(response.headers.get('access-control-expose-headers')).toContain('ETag');
  });

  it('lets an allowed origin read a refusal, and only an allowed origin', async () => {
    const url = await presignPut('uploads/cors-refused.png', 'image/png', 3);
    const allowed = await fetch(url, { method: 'PUT', body: 'abc', headers: { 'content-type': 'text/plain', origin: BROWSER_ORIGIN } });
    expect(allowed.status).toBe(403);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(BROWSER_ORIGIN);
    const other = await fetch(url, { method: 'PUT', body: 'abc', headers: { 'content-type': 'text/plain', origin: 'https://evil.example' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('verifying proxy: transport', () => {
  /** A raw node:http request, for what fetch will not do (Expect, aborts). */
  function rawPut(url: string, headers: Record<string, string | number>): ReturnType<typeof httpRequest> {
    const u = new URL(url);
    return httpRequest({ host: u.hostname, port: u.port, method: 'PUT', path: u.pathname + u.search, headers });
  }

  it('refuses an Expect: 100-continue upload before the body is sent, and admits a valid one', async () => {
    const body = Buffer.from('continue!');
    const bad = rawPut(await presignPut('uploads/expect-bad.txt', 'text/plain', body.length), {
      'content-type': 'text/html',
      'content-length': body.length,
      expect: '100-continue',
    });
    let continued = false;
    bad.on('continue', () => (continued = true));
    const refused = await new Promise<number>((resolve, reject) => {
      bad.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      bad.on('error', reject);
      bad.flushHeaders();
    });
    bad.destroy();
    expect(refused).toBe(403);
    expect(continued).toBe(false);

    const good = rawPut(await presignPut('uploads/expect-good.txt', 'text/plain', body.length), {
      'content-type': 'text/plain',
      'content-length': body.length,
      expect: '100-continue',
    });
    const accepted = await new Promise<number>((resolve, reject) => {
      good.on('continue', () => good.end(body));
      good.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      good.on('error', reject);
      good.flushHeaders();
    });
    expect(accepted).toBe(200);
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/expect-good.txt' }));
    expect(await got.Body!.transformToString()).toBe('continue!');
  });

  it('survives a client that aborts mid-upload', async () => {
    const url = await presignPut('uploads/aborted.bin', 'application/octet-stream', 1_000_000);
    const aborted = rawPut(url, { 'content-type': 'application/octet-stream', 'content-length': 1_000_000 });
    aborted.on('error', () => {});
    aborted.write(Buffer.alloc(64 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 100));
    aborted.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Still serving. (What s3rver keeps of the partial upload is not asserted: unlike S3, which
    // stores nothing, s3rver leaves the truncated bytes readable under the key.)
    const body = Buffer.from('after abort');
    const put = await fetch(await presignPut('uploads/after-abort.txt', 'text/plain', body.length), {
      method: 'PUT',
      body,
      headers: { 'content-type': 'text/plain' },
    });
    expect(put.status).toBe(200);
  });

  it('answers 503 ServiceUnavailable when the storage behind it is down', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await freePort();
    const proxy = await startVerifyingProxy({ upstream: { host: '127.0.0.1', port }, credentials: [CREDENTIALS] });
    try {
      const downClient = sdkClient(proxy.url);
      const url = await getSignedUrl(downClient, new GetObjectCommand({ Bucket: BUCKET, Key: 'k' }), { expiresIn: 60 });
      const error = await errorOf(await fetch(url));
      expect(error).toMatchObject({ status: 503, code: 'ServiceUnavailable' });
      const put = await fetch(await getSignedUrl(downClient, new PutObjectCommand({ Bucket: BUCKET, Key: 'k', ContentType: 'text/plain' }), { expiresIn: 60 }), {
        method: 'PUT',
        body: 'x'.repeat(100_000),
        headers: { 'content-type': 'text/plain' },
      });
      expect(put.status).toBe(503);
      downClient.destroy();
    } finally {
      await proxy.close();
    }
  });
});

describe('embedded S3: what S3 checks beyond the signature', () => {
  /** A header-signed PUT (as the SDK signs it), sent with `body`, which may differ from what was hashed. */
  async function headerSignedPut(key: string, signedBody: Buffer, body: Buffer, region = 'us-east-1'): Promise<{ status: number; text: string }> {
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const url = new URL(`${s3.endpoint}/${BUCKET}/${key}`);
    const signer = new SignatureV4({ service: 's3', region, credentials: CREDENTIALS, sha256: client.config.sha256, uriEscapePath: false });
    const signed = await signer.sign({
      method: 'PUT',
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: {
        host: url.host,
        'content-type': 'image/png',
        'content-length': String(body.length),
        'x-amz-content-sha256': createHash('sha256').update(signedBody).digest('hex'),
      },
      body: signedBody,
    });
    return new Promise((resolve, reject) => {
      const request = httpRequest({ host: url.hostname, port: url.port, method: 'PUT', path: url.pathname, headers: signed.headers }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  it('stores a header-signed PUT whose body has the declared SHA-256', async () => {
    const key = `hash/${randomBytes(6).toString('hex')}.png`;
    const body = randomBytes(2048);
    expect((await headerSignedPut(key, body, body)).status).toBe(200);
    expect(await exists(key)).toBe(true);
  });

  it('refuses (400 XAmzContentSHA256Mismatch) a header-signed PUT whose body is not the one hashed, and stores nothing', async () => {
    const key = `hash/${randomBytes(6).toString('hex')}.png`;
    const signedBody = randomBytes(2048);
    const answer = await headerSignedPut(key, signedBody, randomBytes(2048));
    expect(answer.status).toBe(400);
    expect(answer.text).toContain('<Code>XAmzContentSHA256Mismatch</Code>');
    expect(await exists(key)).toBe(false);
  });

  it('refuses a credential scope for another region, header-signed or presigned, naming the right one', async () => {
    const key = `region/${randomBytes(6).toString('hex')}.png`;
    const body = randomBytes(16);
    const header = await headerSignedPut(key, body, body, 'eu-west-1');
    expect(header.status).toBe(400);
    expect(header.text).toContain('<Code>AuthorizationHeaderMalformed</Code>');
    expect(header.text).toContain('<Region>us-east-1</Region>');
    const otherRegion = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'eu-west-1', credentials: CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED' });
    const url = await getSignedUrl(otherRegion, new PutObjectCommand({ Bucket: BUCKET, Key: key, ContentType: 'image/png' }), { expiresIn: 60 });
    otherRegion.destroy();
    const put = await errorOf(await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body }));
    expect(put.status).toBe(400);
    expect(put.code).toBe('AuthorizationQueryParametersError');
    expect(await exists(key)).toBe(false);
  });
});
