/**
 * Variants end to end with real parts: darkroom in-process, the embedded S3 (s3rver behind its
 * SigV4 verifier) and nginx as the CDN in front of the bucket. A miss is made and stored; later
 * reads find the stored object (storage, or the CDN once it has it); concurrent misses for one
 * variant transform once; a full transform queue answers 503 TRANSFORM_BUSY.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jpegImage, pngBomb } from '../support/images.js';
import type { NginxCdn } from '../support/nginx-cdn.js';
import { appYaml, type Stack } from '../support/stack.js';
import { freshKey, metricValue, putObject, startReadStack, transformCount, type ReadStack } from './read-support.js';

const bucket = 'test-bucket';
const prefix = 'img/';
const variants = 'variants: {widths: [320, 640], qualities: [50], presets: [{name: thumb, width: 100, height: 100, fit: cover, format: png}]}';
const storage = `storage: {provider: s3, bucket: ${bucket}, prefix: "${prefix}"}`;

let parts: ReadStack | undefined;
let stack: Stack;
let cdn: NginxCdn;
let s3: S3Client;

beforeAll(async () => {
  parts = await startReadStack(
    bucket,
    (port) =>
      [
        appYaml('cdnv', `${storage}\ncdn: {url: "http://127.0.0.1:${port}"}\n${variants}`),
        // The same bucket without a CDN: makes variants the CDN has never been asked for.
        appYaml('direct', `${storage}\n${variants}`),
        appYaml('plain', storage),
      ].join('---\n'),
    // One transform at a time and one waiting, so that the busy case needs only three clients.
    { DARKROOM_TRANSFORM_CONCURRENCY: '1', DARKROOM_TRANSFORM_QUEUE: '1' },
  );
  ({ stack, cdn, s3 } = parts);
});

afterAll(() => parts?.close());

async function upload(body: Buffer, name = 'photo.jpg', contentType = 'image/jpeg'): Promise<string> {
  const key = freshKey(name);
  await putObject(s3, bucket, `${prefix}${key}`, body, contentType);
  return key;
}

const url = (app: string, key: string, query = '') => `${stack.darkroom.url}/darkroom/${app}/v2/images/${key}${query}`;
const m = () => stack.darkroom.metrics;
const variantCount = (app: string, outcome: string) => metricValue(m().variantRequests, { app, outcome });
const transforms = (app: string) => transformCount(m(), app);
async function storedObject(objectKey: string): Promise<{ body: Buffer; contentType: string | undefined; cacheControl: string | undefined } | undefined> {
  try {
    const output = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey }));
    return { body: Buffer.from(await output.Body!.transformToByteArray()), contentType: output.ContentType, cacheControl: output.CacheControl };
  } catch {
    return undefined;
  }
}
const bytes = async (response: Response) => Buffer.from(await response.arrayBuffer());

describe('a variant URL', () => {
  it('on a miss is made, stored under the variants prefix and served with its own headers; the next read finds it stored', async () => {
    const original = await jpegImage(1600, 1200);
    const key = await upload(original);
    const generated = await variantCount('cdnv', 'generated');

    const first = await fetch(url('cdnv', key, '?w=640'), { headers: { Accept: 'image/webp,*/*' } });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('image/webp');
    expect(first.headers.get('vary')).toBe('Accept');
    expect(first.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(first.headers.get('x-darkroom-source')).toBe('transform');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const made = await bytes(first);
    expect(await sharp(made).metadata()).toMatchObject({ format: 'webp', width: 640, height: 480 });
    expect(await variantCount('cdnv', 'generated')).toBe(generated + 1);

    const stored = await storedObject(`${prefix}variants/${key}/w640-q80.webp`);
    expect(stored?.body.equals(made)).toBe(true);
    expect(stored).toMatchObject({ contentType: 'image/webp', cacheControl: 'public, max-age=31536000, immutable' });

    // The CDN answered 404 for the variant during the miss (and caches that), so storage serves it now.
    const storageReads = await variantCount('cdnv', 'storage');
    const second = await fetch(url('cdnv', key, '?w=640'), { headers: { Accept: 'image/webp,*/*' } });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-darkroom-source')).toBe('storage');
    expect(second.headers.get('etag')).toBe(etag);
    expect(second.headers.get('vary')).toBe('Accept');
    expect((await bytes(second)).equals(made)).toBe(true);
    expect(await variantCount('cdnv', 'storage')).toBe(storageReads + 1);

    const revalidated = await fetch(url('cdnv', key, '?w=640'), { headers: { Accept: 'image/webp,*/*', 'If-None-Match': etag ?? '' } });
    expect(revalidated.status).toBe(304);
  });

  it('reads a stored variant from the CDN once the CDN has it', async () => {
    const key = await upload(await jpegImage(1200, 900));
    // Made through the app without a CDN: the CDN has never been asked for this variant.
    const made = await fetch(url('direct', key, '?w=320'), { headers: { Accept: 'image/webp' } });
    expect(made.headers.get('x-darkroom-source')).toBe('transform');
    const body = await bytes(made);
    const fromCdn = await variantCount('cdnv', 'cdn');
    const logBefore = (await cdn.accessLog()).length;
    const hit = await fetch(url('cdnv', key, '?w=320'), { headers: { Accept: 'image/webp' } });
    expect(hit.status).toBe(200);
    expect(hit.headers.get('x-darkroom-source')).toBe('cdn');
    expect((await bytes(hit)).equals(body)).toBe(true);
    expect(await variantCount('cdnv', 'cdn')).toBe(fromCdn + 1);
    expect((await cdn.accessLog()).slice(logBefore).map((entry) => entry.path)).toEqual([`/${prefix}variants/${key}/w320-q80.webp`]);
  });

  it('negotiates the format by Accept into AVIF, WebP or the source format, each its own object', async () => {
    const key = await upload(await jpegImage(800, 600));
    const types = [];
    for (const accept of ['image/avif,image/webp,*/*', 'image/webp,*/*', '*/*']) {
      const response = await fetch(url('direct', key, '?w=320&q=50'), { headers: { Accept: accept } });
      expect(response.status).toBe(200);
      types.push(response.headers.get('content-type'));
      expect((await sharp(await bytes(response)).metadata()).width).toBe(320);
    }
    expect(types).toEqual(['image/avif', 'image/webp', 'image/jpeg']);
    for (const name of ['w320-q50.avif', 'w320-q50.webp', 'w320-q50.jpeg']) expect(await storedObject(`${prefix}variants/${key}/${name}`), name).toBeDefined();
  });

  it('serves a preset with its own box and fixed format (no Vary), metadata stripped', async () => {
    const key = await upload(await jpegImage(900, 600, { orientation: 6, gpsMarker: 'DARKROOM-GPS-MARKER' }));
    const response = await fetch(url('direct', key, '?preset=thumb'), { headers: { Accept: 'image/avif' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('vary')).toBeNull();
    const body = await bytes(response);
    const meta = await sharp(body).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 100, height: 100 });
    expect(meta.exif).toBeUndefined();
    expect(body.includes('DARKROOM-GPS-MARKER')).toBe(false);
  });

  it('leaves the original exactly as it was', async () => {
    const original = await jpegImage(640, 480);
    const key = await upload(original);
    const response = await fetch(url('cdnv', key));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(response.headers.get('vary')).toBeNull();
    expect((await bytes(response)).equals(original)).toBe(true);
  });

  it.each([
    ['cdnv', '?w=641'],
    ['cdnv', '?w=640&w=320'],
    ['cdnv', '?w=640&q=90'],
    ['cdnv', '?preset=nope'],
    ['cdnv', '?w=640&utm_source=x'],
    ['plain', '?w=640'],
  ])('%s%s is 400 INVALID_VARIANT', async (app, query) => {
    const key = await upload(await jpegImage(64, 64));
    const response = await fetch(url(app, key, query));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_VARIANT');
  });

  it('answers 404 for a missing original, 404 IMAGE_REFUSED for HTML under an image name, 422 for a decompression bomb', async () => {
    const missing = await fetch(url('direct', freshKey(), '?w=320'));
    expect([missing.status, ((await missing.json()) as { error: { code: string } }).error.code]).toEqual([404, 'IMAGE_NOT_FOUND']);

    const html = await upload(Buffer.from('<html><script>alert(1)</script></html>'), 'page.jpg', 'image/jpeg');
    const refused = await fetch(url('direct', html, '?w=320'));
    expect([refused.status, ((await refused.json()) as { error: { code: string } }).error.code]).toEqual([404, 'IMAGE_REFUSED']);

    const refusedCount = await variantCount('direct', 'refused');
    const bomb = await upload(pngBomb(100_000, 100_000), 'bomb.png', 'image/png');
    const response = await fetch(url('direct', bomb, '?w=320'));
    expect([response.status, ((await response.json()) as { error: { code: string } }).error.code]).toEqual([422, 'IMAGE_NOT_TRANSFORMABLE']);
    expect(await variantCount('direct', 'refused')).toBe(refusedCount + 1);
    expect(await storedObject(`${prefix}variants/${bomb}/w320.png`)).toBeUndefined();
  });

  it('transforms once for concurrent requests of one missing variant (single flight)', async () => {
    const key = await upload(await jpegImage(2400, 1800));
    const before = { transforms: await transforms('direct'), generated: await variantCount('direct', 'generated') };
    const answers = await Promise.all(Array.from({ length: 6 }, () => fetch(url('direct', key, '?w=640'), { headers: { Accept: 'image/webp' } })));
    const bodies = await Promise.all(answers.map(bytes));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(bodies.map((body) => body.toString('base64'))).size).toBe(1);
    expect(await transforms('direct')).toBe(before.transforms + 1);
    expect(await variantCount('direct', 'generated')).toBe(before.generated + 6);
  });

  it('answers 503 TRANSFORM_BUSY with Retry-After when every slot and the queue are taken, and serves the rest', async () => {
    // Distinct large originals: one transforms, one waits, the others find the queue full.
    const original = await jpegImage(6000, 4000);
    const keys = await Promise.all(Array.from({ length: 5 }, () => upload(original)));
    const refused = await variantCount('direct', 'refused');
    const answers = await Promise.all(keys.map((key) => fetch(url('direct', key, '?w=320'), { headers: { Accept: 'image/webp' } })));
    const statuses = answers.map((answer) => answer.status);
    const busy = answers.filter((answer) => answer.status === 503);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
    for (const answer of busy) {
      expect(answer.headers.get('retry-after')).toBe('1');
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('TRANSFORM_BUSY');
    }
    expect(await variantCount('direct', 'refused')).toBe(refused + busy.length);
    expect(await metricValue(m().variantQueueDepth, {})).toBe(0);
  });
});
