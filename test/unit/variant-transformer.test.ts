/** The transformer on real sharp/libvips: output shape, stripped metadata, hostile inputs. */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isDarkroomError } from '../../src/core/errors.js';
import { transformImage, type TransformLimits } from '../../src/variants/transformer.js';
import type { VariantParameters } from '../../src/variants/variant-key.js';
import { animatedImage, jpegBomb, jpegImage, pngBomb, pngImage } from '../support/images.js';

const limits: TransformLimits = { maxInputPixels: 40_000_000, maxFrames: 50, timeoutSeconds: 10 };
const webp640: VariantParameters = { width: 640, height: undefined, fit: 'inside', format: 'webp', quality: 80 };
const to = (overrides: Partial<VariantParameters>): VariantParameters => ({ ...webp640, ...overrides });

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    return isDarkroomError(error) ? error.code : `not a catalogue error: ${String(error)}`;
  }
}

describe('transformImage', () => {
  it('resizes to the width, keeps the aspect ratio and writes the asked format', async () => {
    const out = await transformImage(await jpegImage(1600, 1200), webp640, limits);
    const meta = await sharp(out.data).metadata();
    expect([meta.format, meta.width, meta.height, out.width, out.height]).toEqual(['webp', 640, 480, 640, 480]);
  });

  it.each(['avif', 'jpeg', 'png'] as const)('writes %s', async (format) => {
    const out = await transformImage(await pngImage(800, 400), to({ format, width: 200, quality: format === 'png' ? undefined : 60 }), limits);
    const meta = await sharp(out.data).metadata();
    expect(meta.format).toBe(format === 'avif' ? 'heif' : format);
    expect(meta.width).toBe(200);
  });

  it('never upscales', async () => {
    const out = await transformImage(await jpegImage(300, 200), to({ width: 1024 }), limits);
    expect([out.width, out.height]).toEqual([300, 200]);
  });

  it('fits a box: cover crops to it exactly, inside stays within it', async () => {
    const source = await jpegImage(1000, 500);
    const cover = await transformImage(source, to({ width: 200, height: 200, fit: 'cover' }), limits);
    expect([cover.width, cover.height]).toEqual([200, 200]);
    const inside = await transformImage(source, to({ width: 200, height: 200, fit: 'inside' }), limits);
    expect([inside.width, inside.height]).toEqual([200, 100]);
    const contain = await transformImage(source, to({ width: 200, height: 200, fit: 'contain' }), limits);
    expect([contain.width, contain.height]).toEqual([200, 200]);
  });

  it('applies the EXIF orientation and strips all metadata, GPS included', async () => {
    const marker = 'DARKROOM-GPS-MARKER';
    const source = await jpegImage(400, 300, { orientation: 6, gpsMarker: marker });
    expect(source.includes(marker)).toBe(true); // the fixture does carry GPS EXIF
    for (const format of ['webp', 'jpeg', 'png', 'avif'] as const) {
      const out = await transformImage(source, to({ width: 100, format, quality: format === 'png' ? undefined : 80 }), limits);
      const meta = await sharp(out.data).metadata();
      // Orientation 6 is a quarter turn: the 400x300 landscape becomes a 100x133 portrait.
      expect([format, meta.width, meta.height]).toEqual([format, 100, 133]);
      expect(meta.exif, format).toBeUndefined();
      expect(meta.orientation, format).toBeUndefined();
      expect(out.data.includes(marker), format).toBe(false);
    }
  });

  it('keeps the frames of an animated GIF or WebP in an animated output, up to maxFrames', async () => {
    for (const input of ['gif', 'webp'] as const) {
      const source = await animatedImage(input, 5);
      const all = await transformImage(source, to({ width: 20, format: 'webp' }), limits);
      expect((await sharp(all.data).metadata()).pages, input).toBe(5);
      const capped = await transformImage(source, to({ width: 20, format: 'gif', quality: undefined }), { ...limits, maxFrames: 3 });
      expect((await sharp(capped.data).metadata()).pages, input).toBe(3);
      const still = await transformImage(source, to({ width: 20, format: 'jpeg' }), limits);
      const stillMeta = await sharp(still.data).metadata();
      expect([stillMeta.pages ?? 1, stillMeta.width, stillMeta.height], input).toEqual([1, 20, 15]);
    }
  });

  it('counts every decoded frame against maxInputPixels', async () => {
    const source = await animatedImage('gif', 4, 40, 30); // 1200 px a frame
    expect(await codeOf(transformImage(source, to({ width: 20 }), { ...limits, maxInputPixels: 3000 }))).toBe('IMAGE_NOT_TRANSFORMABLE');
    // A still output decodes one frame: 1200 px, within the limit.
    expect((await transformImage(source, to({ width: 20, format: 'jpeg' }), { ...limits, maxInputPixels: 3000 })).width).toBe(20);
  });

  it('refuses a decompression bomb from its header, before decoding', async () => {
    // 10^10 pixels (30 GB of RGB) in well under a kilobyte; and one just over the app's limit.
    const bomb = pngBomb(100_000, 100_000);
    expect(bomb.length).toBeLessThan(1024);
    expect(await codeOf(transformImage(bomb, webp640, limits))).toBe('IMAGE_NOT_TRANSFORMABLE');
    expect(await codeOf(transformImage(pngBomb(8000, 5001), webp640, limits))).toBe('IMAGE_NOT_TRANSFORMABLE');
    // Under the limit, the same crafted file is simply broken pixel data: still a clear code.
    expect(await codeOf(transformImage(pngBomb(64, 64), webp640, limits))).toBe('IMAGE_NOT_TRANSFORMABLE');
    // A JPEG of 16 x 16 pixels whose header claims 65 000 x 65 000 (4.2 * 10^9 pixels).
    const jpeg = await jpegBomb(65_000, 65_000);
    expect(jpeg.length).toBeLessThan(1024);
    expect(await codeOf(transformImage(jpeg, webp640, limits))).toBe('IMAGE_NOT_TRANSFORMABLE');
  });

  it('holds a real JPEG and PNG to maxInputPixels, to the pixel', async () => {
    for (const image of [await jpegImage(200, 100), await pngImage(200, 100)]) {
      expect(await codeOf(transformImage(image, webp640, { ...limits, maxInputPixels: 19_999 }))).toBe('IMAGE_NOT_TRANSFORMABLE');
      expect((await transformImage(image, webp640, { ...limits, maxInputPixels: 20_000 })).width).toBe(200);
    }
  });

  it.each([
    ['a truncated JPEG', async () => (await jpegImage(800, 600)).subarray(0, 600)],
    ['a JPEG cut in half', async () => { const whole = await jpegImage(800, 600); return whole.subarray(0, whole.length / 2); }],
    ['a truncated PNG', async () => (await pngImage(300, 300)).subarray(0, 100)],
    ['random bytes', async () => Buffer.from(Array.from({ length: 4096 }, (_, index) => (index * 7919) % 251))],
    ['an empty file', async () => Buffer.alloc(0)],
    ['an SVG', async () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><script>alert(1)</script><rect width="100" height="100"/></svg>')],
    ['an HTML page', async () => Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>')],
    ['a JPEG signature followed by HTML', async () => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('<html><script>alert(1)</script></html>')])],
    ['a TIFF (readable by libvips, not served by darkroom)', async () => sharp({ create: { width: 50, height: 50, channels: 3, background: 'red' } }).tiff().toBuffer()],
  ])('%s is IMAGE_NOT_TRANSFORMABLE, not a crash', async (_name, make) => {
    expect(await codeOf(transformImage(await make(), webp640, limits))).toBe('IMAGE_NOT_TRANSFORMABLE');
  });
});
