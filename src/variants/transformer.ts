/**
 * Makes one variant from an original's bytes with sharp (libvips). Untrusted input, checked before
 * any pixel is decoded: the magic bytes must be those of a raster format darkroom serves (an SVG
 * or HTML file under an image name is refused), and the declared canvas must be within the app's
 * pixel limit, so a small file declaring a huge canvas (a decompression bomb) never allocates it.
 * For JPEG and PNG, which have one frame, libvips' own `limitInputPixels` check on the header is
 * that check (a separate header read cost 0.3 to 0.5 ms of CPU per 12 MP JPEG, measured); for
 * GIF, WebP and AVIF the header is read first, to count and cap the frames. Output: orientation
 * applied (EXIF Orientation), every metadata block stripped (sharp writes none unless asked: GPS
 * EXIF never leaves), never upscaled.
 * Any failure is IMAGE_NOT_TRANSFORMABLE; the cause goes to the log only.
 */
import sharp, { type Metadata, type Sharp } from 'sharp';
import { darkroomError, type DarkroomError } from '../core/errors.js';
import { signaturePrefixLength, sniffImageType } from '../core/image-signatures.js';
import type { VariantParameters } from './variant-key.js';

/** Limits for one transform. */
export interface TransformLimits {
  /** Largest width x height x frames decoded (`spec.variants.maxInputPixels`). */
  readonly maxInputPixels: number;
  /** Most frames of an animated input kept in an animated output; the rest are dropped. */
  readonly maxFrames: number;
  /** Deadline of the pixel work in whole seconds (sharp's `timeout`); 1 to 3600. */
  readonly timeoutSeconds: number;
}

/** A made variant. */
export interface TransformedImage {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

// libvips' loader names for the formats darkroom serves (AVIF is read by its HEIF loader).
const transformableFormats = new Set(['jpeg', 'png', 'gif', 'webp', 'heif']);
// Formats with one frame only (an APNG's animation is not decoded: libvips reads its first frame).
const singleFrameTypes = new Set(['image/jpeg', 'image/png']);
// Output formats that keep animation.
const animatedOutputs = new Set(['webp', 'gif']);

export async function transformImage(input: Buffer, parameters: VariantParameters, limits: TransformLimits): Promise<TransformedImage> {
  const type = sniffImageType(input.subarray(0, signaturePrefixLength));
  if (type === undefined) throw notTransformable('not the magic bytes of a format darkroom transforms');
  const frames = singleFrameTypes.has(type) ? 1 : await framesToKeep(input, parameters, limits);
  try {
    const pipeline = sharp(input, {
      // Checked by libvips on the header, before decoding: for JPEG and PNG the only check, for
      // the others a backstop on the same number (their frames are counted above).
      limitInputPixels: limits.maxInputPixels,
      pages: frames,
      // Truncated or corrupt pixel data aborts instead of yielding a half-grey image.
      failOn: 'error',
      sequentialRead: true,
    })
      .timeout({ seconds: limits.timeoutSeconds })
      .rotate()
      .resize({
        width: parameters.width,
        ...(parameters.height !== undefined ? { height: parameters.height, fit: parameters.fit } : {}),
        withoutEnlargement: true,
        // Letterbox bands: transparent where the format has alpha, white in a JPEG.
        background: parameters.format === 'jpeg' ? { r: 255, g: 255, b: 255, alpha: 1 } : { r: 0, g: 0, b: 0, alpha: 0 },
      });
    const { data, info } = await encode(pipeline, parameters).toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.pageHeight ?? info.height };
  } catch (error) {
    throw notTransformable('decode or encode failed', error);
  }
}

function encode(pipeline: Sharp, parameters: VariantParameters): Sharp {
  const quality = parameters.quality;
  switch (parameters.format) {
    case 'webp':
      return pipeline.webp({ quality });
    case 'avif':
      return pipeline.avif({ quality });
    case 'jpeg':
      // A JPEG has no alpha: transparent pixels become white, not black.
      return pipeline.flatten({ background: '#ffffff' }).jpeg({ quality });
    case 'png':
      return pipeline.png();
    case 'gif':
      return pipeline.gif();
  }
}

/** For a format that may be animated: the frames to decode, after the header's canvas is checked against the pixel limit. */
async function framesToKeep(input: Buffer, parameters: VariantParameters, limits: TransformLimits): Promise<number> {
  const header = await readHeader(input, limits.maxInputPixels);
  const frames = animatedOutputs.has(parameters.format) ? Math.min(header.pages, limits.maxFrames) : 1;
  if (header.width * header.height * frames > limits.maxInputPixels) throw notTransformable('canvas over maxInputPixels');
  return frames;
}

async function readHeader(input: Buffer, maxInputPixels: number): Promise<{ width: number; height: number; pages: number }> {
  let metadata: Metadata;
  try {
    metadata = await sharp(input, { limitInputPixels: maxInputPixels }).metadata();
  } catch (error) {
    throw notTransformable('header unreadable or over the pixel limit', error);
  }
  // SVG, PDF, TIFF, HEIC and the rest libvips can read are not images darkroom serves.
  if (!metadata.format || !transformableFormats.has(metadata.format)) throw notTransformable(`format ${String(metadata.format)} is not transformed`);
  const { width, height } = metadata;
  if (!width || !height) throw notTransformable('no dimensions');
  // For an animated image `height` is one frame's height (sharp reads one page unless asked).
  return { width, height: metadata.pageHeight ?? height, pages: Math.max(1, metadata.pages ?? 1) };
}

function notTransformable(reason: string, cause?: unknown): DarkroomError {
  return darkroomError('IMAGE_NOT_TRANSFORMABLE', { cause: cause ?? new Error(reason) });
}
