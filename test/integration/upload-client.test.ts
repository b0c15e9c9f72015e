/**
 * The upload client (`darkroom/client`) from Node against real parts: darkroom and the embedded
 * S3 behind its SigV4 verifier. Node has no XMLHttpRequest, so the PUT goes through fetch here;
 * the XHR path (progress) runs in Chromium (test/e2e/cross-origin-upload.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  putToStorage,
  presignUpload,
  RateLimitedError,
  StorageUploadError,
  UploadAbortedError,
  UploadError,
  UploadRefusedError,
  uploadImage,
} from '../../src/client/index.js';
import { jpegBytes } from '../fixtures/images.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    appsYaml: [
      appYaml('shop', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket, prefix: shop/}\nupload: {allowedExtensions: [jpg, png]}'),
      // One URL per owner per 3 seconds: a second request right after the first waits out a 429.
      appYaml('burst', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: 1, windowSeconds: 3}'),
      appYaml('slow', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: 1, windowSeconds: 600}'),
      appYaml('closed', 'storage: {provider: s3, bucket: test-bucket}'),
    ].join('---\n'),
  });
});
afterAll(async () => {
  await stack?.close();
});

const jpegFile = (name: string, size = 4096) => new File([jpegBytes(size)], name, { type: 'image/jpeg' });
const options = (app: string, owner = 'client-test') => ({ baseURL: stack.darkroom.url, app, owner });
const readBack = async (publicURL: string) => fetch(`${stack.darkroom.url}${new URL(publicURL).pathname}`);

describe('uploadImage', () => {
  it('presigns, PUTs with the returned headers and returns the public URL and key; the image reads back', async () => {
    const file = jpegFile('Team Photo.jpg', 10_000);
    const progress: number[] = [];
    const result = await uploadImage(file, { ...options('shop'), onProgress: (p) => progress.push(p.fraction) });
    expect(result.key).toMatch(/^[0-9a-f]{32}-team-photo\.jpg$/);
    expect(result.publicURL).toBe(`https://img.example.test/darkroom/shop/v2/images/${result.key}`);
    expect(progress).toEqual([1]);
    const read = await readBack(result.publicURL);
    expect(read.status).toBe(200);
    expect(Buffer.from(await read.arrayBuffer()).equals(Buffer.from(await file.arrayBuffer()))).toBe(true);
  });

  it('waits out a 429 within its bounds and succeeds', async () => {
    await uploadImage(jpegFile('one.jpg'), options('burst', 'retrier'));
    const presignAnswers: { status: number; retryAfter: string | null }[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (typeof input === 'string' && input.includes('/presigned-urls')) presignAnswers.push({ status: response.status, retryAfter: response.headers.get('retry-after') });
      return response;
    };
    const second = await uploadImage(jpegFile('two.jpg'), { ...options('burst', 'retrier'), fetch: recordingFetch });
    expect(second.key).toMatch(/-two\.jpg$/);
    expect(presignAnswers.map((answer) => answer.status)).toEqual([429, 200]);
    expect(presignAnswers[0]?.retryAfter).toMatch(/^[1-3]$/);
  });

  it('gives up at once on a Retry-After beyond maxRetryAfterSeconds, with a RateLimitedError', async () => {
    await uploadImage(jpegFile('one.jpg'), options('slow', 'impatient'));
    const error = await uploadImage(jpegFile('two.jpg'), options('slow', 'impatient')).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429, source: 'darkroom' });
    expect((error as RateLimitedError).retryAfterSeconds).toBeGreaterThan(30);
    expect((error as RateLimitedError).requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['an extension the app does not take', 'shop', new File([new Uint8Array(10)], 'a.gif', { type: 'image/gif' }), 'EXTENSION_NOT_ALLOWED', 415],
    ['an app closed to public upload', 'closed', jpegFile('a.jpg'), 'PUBLIC_UPLOAD_DISABLED', 403],
    ['an unknown app', 'no-such-app', jpegFile('a.jpg'), 'APP_NOT_FOUND', 404],
    ['a file that is not an image', 'shop', new File(['hi'], 'notes.txt', { type: 'text/plain' }), 'UNSUPPORTED_FILE_TYPE', 415],
  ])('maps a refusal (%s) to an UploadRefusedError with darkroom’s code', async (_name, app, file, code, status) => {
    const error = await uploadImage(file, options(app)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UploadRefusedError);
    expect(error).toMatchObject({ code, status, source: 'darkroom' });
  });

  it('maps storage’s refusal of a spoilt URL to a StorageUploadError with storage’s code', async () => {
    const file = jpegFile('spoilt.jpg');
    const grant = await presignUpload(file, options('shop'));
    const spoilt = { ...grant, uploadURL: grant.uploadURL.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${'0'.repeat(64)}`) };
    const error = await putToStorage(file, spoilt).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StorageUploadError);
    expect(error).toMatchObject({ code: 'SignatureDoesNotMatch', status: 403, source: 'storage' });
  });

  it('stops on its signal, during a retry wait too', async () => {
    const aborted = new AbortController();
    aborted.abort();
    await expect(uploadImage(jpegFile('a.jpg'), { ...options('shop'), signal: aborted.signal })).rejects.toBeInstanceOf(UploadAbortedError);

    await uploadImage(jpegFile('one.jpg'), options('burst', 'waiter'));
    const controller = new AbortController();
    const pending = uploadImage(jpegFile('two.jpg'), { ...options('burst', 'waiter'), signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toBeInstanceOf(UploadAbortedError);
  });

  it('reports an unreachable darkroom as a network error', async () => {
    const error = await uploadImage(jpegFile('a.jpg'), { ...options('shop'), baseURL: 'http://127.0.0.1:1' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UploadError);
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', source: 'network', status: 0 });
  });
});
