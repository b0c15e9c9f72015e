/**
 * Test images made at run time with sharp (nothing binary committed), and hostile inputs crafted
 * byte by byte: a PNG that declares a huge canvas in a few dozen bytes, truncated files.
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** A solid JPEG of `width` x `height`, optionally with EXIF (orientation, a GPS marker). */
export async function jpegImage(width: number, height: number, options: { orientation?: number; gpsMarker?: string } = {}): Promise<Buffer> {
  let image = sharp({ create: { width, height, channels: 3, background: { r: 30, g: 90, b: 200 } } }).jpeg({ quality: 90 });
  if (options.orientation) image = image.withMetadata({ orientation: options.orientation });
  if (options.gpsMarker) image = image.withExif({ IFD0: { Make: 'darkroom-test' }, IFD3: { GPSLatitudeRef: 'N', GPSMapDatum: options.gpsMarker } });
  return image.toBuffer();
}

/** A noisy JPEG (realistic encode cost and size) of `width` x `height`. */
export async function noisyJpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 120, g: 110, b: 90 }, noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** A solid PNG with alpha. */
export async function pngImage(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 10, g: 200, b: 10, alpha: 0.5 } } }).png().toBuffer();
}

/** An animated image of `frames` frames in `format` (gif or webp). */
export async function animatedImage(format: 'gif' | 'webp', frames: number, width = 40, height = 30): Promise<Buffer> {
  const pages = await Promise.all(
    Array.from({ length: frames }, (_, index) =>
      sharp({ create: { width, height, channels: 4, background: { r: (index * 60) % 256, g: 20, b: 20, alpha: 1 } } }).png().toBuffer(),
    ),
  );
  const joined = sharp(pages, { join: { animated: true } });
  return format === 'gif' ? joined.gif().toBuffer() : joined.webp().toBuffer();
}

/**
 * A valid PNG of a few dozen bytes whose header declares `width` x `height` RGB pixels: a
 * decompression bomb if a decoder allocates what the header says.
 */
export function pngBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(1024))), pngChunk('IEND', Buffer.alloc(0))]);
}

/**
 * A small real JPEG whose frame header (SOF0) is rewritten to declare `width` x `height` (each at
 * most 65 535, JPEG's limit): the same bomb in the format darkroom transforms most.
 */
export async function jpegBomb(width: number, height: number): Promise<Buffer> {
  const bytes = Buffer.from(await sharp({ create: { width: 16, height: 16, channels: 3, background: 'gray' } }).jpeg({ progressive: false }).toBuffer());
  const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
  if (sof < 0) throw new Error('no baseline frame header in the JPEG sharp wrote');
  // FF C0, length (2), precision (1), then height and width.
  bytes.writeUInt16BE(height, sof + 5);
  bytes.writeUInt16BE(width, sof + 7);
  return bytes;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
