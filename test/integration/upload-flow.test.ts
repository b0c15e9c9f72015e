/**
 * The whole first capability against real parts: darkroom authorises an upload, the client PUTs
 * the bytes straight to the embedded S3 (s3rver behind the SigV4 verifier), and the image reads
 * back byte for byte through darkroom's public URL. Storage refuses every PUT that deviates from
 * what was signed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jpegBytes, tinyPng } from '../fixtures/images.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';
import { metricValue } from './read-support.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    appsYaml: [
      appYaml(
        'shop',
        `
allowPublicUpload: true
storage: {provider: s3, bucket: test-bucket, prefix: shop/}
upload: {maxBytes: 1048576, urlTTLSeconds: 300}
`,
      ),
      appYaml('shortlived', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nupload: {urlTTLSeconds: 1}`),
      appYaml('sizeless', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket, prefix: sizeless/}\nupload: {maxBytes: 20000, requireSize: false}`),
    ].join('---\n'),
  });
});

afterAll(async () => {
  await stack.close();
});

interface PresignData {
  uploadURL: string;
  publicURL: string;
  key: string;
  method: string;
  headers: Record<string, string>;
  expiresAt: string;
}

async function presign(app: string, body: object, owner = 'alice'): Promise<PresignData> {
  const response = await fetch(`${stack.darkroom.url}/darkroom/${app}/v1/images/presigned-urls`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Owner-Id': owner },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { success: boolean; data: PresignData };
  expect(response.status, JSON.stringify(json)).toBe(200);
  return json.data;
}

/** The public URL is built on the public base; the same path on darkroom's own address reads it. */
function localReadUrl(data: PresignData): string {
  return `${stack.darkroom.url}${new URL(data.publicURL).pathname}`;
}

describe('presigned upload → direct PUT → public read', () => {
  it('accepts a PUT with exactly the returned headers and reads the image back byte for byte', async () => {
    const bytes = jpegBytes(50_000);
    const data = await presign('shop', { file: 'Holiday Photo.JPG', contentType: 'image/jpeg', size: bytes.length });

    expect(data.method).toBe('PUT');
    expect(data.headers).toEqual({ 'Content-Type': 'image/jpeg', 'Content-Length': String(bytes.length), 'If-None-Match': '*' });
    expect(data.key).toMatch(/^[0-9a-f]{32}-holiday-photo\.jpg$/);
    expect(data.publicURL).toBe(`https://img.example.test/darkroom/shop/v2/images/${data.key}`);
    const ttl = Date.parse(data.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(300_000);
    // The signature binds the key (with the app's prefix), Content-Type, Content-Length and no-overwrite.
    const signed = new URL(data.uploadURL);
    expect(signed.pathname).toBe(`/test-bucket/shop/${data.key}`);
    expect(signed.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host;if-none-match');
    expect(signed.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(signed.searchParams.has('x-amz-checksum-crc32')).toBe(false);

    const put = await fetch(data.uploadURL, { method: 'PUT', headers: data.headers, body: bytes });
    expect(put.status, await put.clone().text()).toBe(200);

    const read = await fetch(localReadUrl(data));
    expect(read.status).toBe(200);
    expect(read.headers.get('content-type')).toBe('image/jpeg');
    expect(read.headers.get('content-length')).toBe(String(bytes.length));
    expect(read.headers.get('etag')).toMatch(/^"[0-9a-f]+"$/);
    expect(read.headers.get('cache-control')).toContain('immutable');
    expect(read.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await read.arrayBuffer()).equals(bytes)).toBe(true);

    const head = await fetch(localReadUrl(data), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect(head.headers.get('etag')).toBe(read.headers.get('etag'));

    // The same URL again: storage refuses to overwrite (412), and the first image stays.
    const again = await fetch(data.uploadURL, { method: 'PUT', headers: data.headers, body: jpegBytes(bytes.length) });
    const againText = await again.text();
    expect(again.status, againText).toBe(412);
    expect(againText).toContain('<Code>PreconditionFailed</Code>');
    expect(Buffer.from(await (await fetch(localReadUrl(data))).arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('S3 apps require size by default: the seed\'s size-less request is refused with SIZE_REQUIRED', async () => {
    const response = await fetch(`${stack.darkroom.url}/darkroom/shop/v1/images/presigned-urls`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Owner-Id': 'alice' },
      body: JSON.stringify({ file: 'x.jpg' }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('SIZE_REQUIRED');
  });

  it('with requireSize: false, a size-less request gets a URL that binds no length; reads refuse objects over maxBytes', async () => {
    const refusedBefore = await metricValue(stack.darkroom.metrics.imageReadsRefused, { app: 'sizeless', reason: 'too_large' });
    const small = await presign('sizeless', { file: 'x.jpg' });
    expect(small.headers).toEqual({ 'Content-Type': 'image/jpeg', 'If-None-Match': '*' });
    expect(new URL(small.uploadURL).searchParams.get('X-Amz-SignedHeaders')).toBe('content-type;host;if-none-match');
    const smallBytes = jpegBytes(10_000);
    expect((await fetch(small.uploadURL, { method: 'PUT', headers: small.headers, body: smallBytes })).status).toBe(200);
    const smallRead = await fetch(localReadUrl(small));
    expect(smallRead.status).toBe(200);
    expect(Buffer.from(await smallRead.arrayBuffer()).equals(smallBytes)).toBe(true);

    // Storage cannot stop a larger body under this URL; the read path refuses to serve it.
    const large = await presign('sizeless', { file: 'x.jpg' });
    expect((await fetch(large.uploadURL, { method: 'PUT', headers: large.headers, body: jpegBytes(30_000) })).status).toBe(200);
    for (const init of [{}, { method: 'HEAD' }, { headers: { Range: 'bytes=100-199' } }]) {
      const read = await fetch(localReadUrl(large), init);
      expect(read.status).toBe(404);
      if (init.method !== 'HEAD') expect(((await read.json()) as { error: { code: string } }).error.code).toBe('IMAGE_REFUSED');
    }
    expect(await metricValue(stack.darkroom.metrics.imageReadsRefused, { app: 'sizeless', reason: 'too_large' })).toBe(refusedBefore + 3);
  });

  it('gives every upload its own key, even for the same file name', async () => {
    const keys = new Set<string>();
    for (let i = 0; i < 5; i += 1) keys.add((await presign('shop', { file: 'a.png', size: 10 })).key);
    expect(keys.size).toBe(5);
  });

  describe('storage refuses what was not signed', () => {
    let data: PresignData;
    const bytes = tinyPng;

    beforeAll(async () => {
      data = await presign('shop', { file: 'pixel.png', size: bytes.length });
    });

    async function expectRefused(url: string, init: RequestInit, code: string): Promise<void> {
      const response = await fetch(url, { method: 'PUT', ...init });
      const text = await response.text();
      expect(response.status, text).toBe(403);
      expect(text).toContain(`<Code>${code}</Code>`);
    }

    it('another Content-Type', async () => {
      await expectRefused(data.uploadURL, { headers: { ...data.headers, 'Content-Type': 'text/html' }, body: bytes }, 'SignatureDoesNotMatch');
    });

    it('another length', async () => {
      const longer = Buffer.concat([bytes, Buffer.from('<script>alert(1)</script>')]);
      await expectRefused(data.uploadURL, { headers: { 'Content-Type': data.headers['Content-Type']! }, body: longer }, 'SignatureDoesNotMatch');
    });

    it('another key', async () => {
      const other = data.uploadURL.replace(data.key, data.key.replace('pixel', 'evil'));
      expect(other).not.toBe(data.uploadURL);
      await expectRefused(other, { headers: data.headers, body: bytes }, 'SignatureDoesNotMatch');
    });

    it('a forged signature', async () => {
      const url = new URL(data.uploadURL);
      const signature = url.searchParams.get('X-Amz-Signature')!;
      url.searchParams.set('X-Amz-Signature', signature.replace(/^./, signature.startsWith('0') ? '1' : '0'));
      await expectRefused(url.toString(), { headers: data.headers, body: bytes }, 'SignatureDoesNotMatch');
    });

    it('after expiry', async () => {
      const short = await presign('shortlived', { file: 'late.png', size: bytes.length });
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      await expectRefused(short.uploadURL, { headers: short.headers, body: bytes }, 'AccessDenied');
    });

    it('and nothing was stored by the refused attempts', async () => {
      const read = await fetch(localReadUrl(data));
      expect(read.status).toBe(404);
      expect(((await read.json()) as { error: { code: string } }).error.code).toBe('IMAGE_NOT_FOUND');
    });
  });
});
