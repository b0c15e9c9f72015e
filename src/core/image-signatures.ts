/**
 * Magic bytes of the image formats darkroom serves. The read path compares the first bytes of a
 * stored object with the signature of the type it claims, so an HTML or SVG payload uploaded under
 * a `.jpg` name is refused rather than served (OWASP File Upload Cheat Sheet, "File Content
 * Validation"). Pure.
 */

/** Bytes needed to decide every known signature (AVIF's `ftyp` brand ends at offset 12). */
export const signaturePrefixLength = 12;

type Matcher = (bytes: Uint8Array) => boolean;

const ascii = (bytes: Uint8Array, offset: number, text: string): boolean =>
  bytes.length >= offset + text.length && [...text].every((char, i) => bytes[offset + i] === char.charCodeAt(0));

const startsWith = (bytes: Uint8Array, prefix: readonly number[]): boolean =>
  bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);

// JPEG: SOI marker FF D8 followed by the next marker's FF (ISO/IEC 10918-1).
const jpeg: Matcher = (b) => startsWith(b, [0xff, 0xd8, 0xff]);
// PNG: the fixed 8-byte signature (RFC 2083 §3.1).
const png: Matcher = (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// GIF: "GIF87a" or "GIF89a" (GIF89a spec §17).
const gif: Matcher = (b) => ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a');
// WebP: a RIFF container whose form type is "WEBP" (RFC 9649 §2.5).
const webp: Matcher = (b) => ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP');
// AVIF: an ISO-BMFF `ftyp` box with major brand `avif` (still) or `avis` (sequence) (AV1 Image File Format §9).
const avif: Matcher = (b) => ascii(b, 4, 'ftypavif') || ascii(b, 4, 'ftypavis');

const byContentType = new Map<string, Matcher>([
  ['image/jpeg', jpeg],
  ['image/png', png],
  ['image/gif', gif],
  ['image/webp', webp],
  ['image/avif', avif],
]);

/**
 * True when `prefix` (the object's first bytes, at least {@link signaturePrefixLength} of them
 * unless the object is shorter) starts with the signature of `contentType` (a canonical image
 * MIME type). False for a type without a known signature.
 */
export function matchesImageSignature(contentType: string, prefix: Uint8Array): boolean {
  return byContentType.get(contentType)?.(prefix) ?? false;
}

/** The canonical image type whose signature `prefix` carries, or undefined. For logs and tests. */
export function sniffImageType(prefix: Uint8Array): string | undefined {
  for (const [contentType, matches] of byContentType) if (matches(prefix)) return contentType;
  return undefined;
}
