/**
 * The output format of a variant. An explicit preset format is used as is; `auto` reduces the
 * `Accept` header to three buckets (AVIF, WebP, the source format), so a cache keyed on the
 * variant sees at most three objects per variant whatever browsers send. Pure.
 */
import type { RequestedFormat } from './variant-query.js';

/** Formats a variant is written in. `gif` only ever as the source format of a GIF original. */
export type OutputFormat = 'avif' | 'webp' | 'jpeg' | 'png' | 'gif';

const outputContentTypes: Readonly<Record<OutputFormat, string>> = {
  avif: 'image/avif',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
};

/** The canonical MIME type of an output format. */
export function contentTypeOf(format: OutputFormat): string {
  return outputContentTypes[format];
}

/** The output format that keeps an original's own format (a canonical image MIME type). */
export function sourceFormatOf(contentType: string): OutputFormat {
  const match = (Object.entries(outputContentTypes) as [OutputFormat, string][]).find(([, type]) => type === contentType);
  // darkroom's image types are exactly these five; anything else is refused before this point.
  if (!match) throw new Error(`not an image type darkroom knows: ${contentType}`);
  return match[0];
}

/**
 * The format to write: `requested` unless it is `auto`, then AVIF when `Accept` names
 * `image/avif`, else WebP when it names `image/webp`, else the source format. A wildcard
 * (`image/*`, `*\/*`) does not count: every browser sends one, including those that cannot
 * decode AVIF. A GIF original never becomes AVIF by negotiation (libvips writes AVIF without
 * animation, so an animated GIF would lose its frames); it becomes WebP or stays GIF.
 */
export function negotiateFormat(requested: RequestedFormat, accept: string | undefined, source: OutputFormat): OutputFormat {
  if (requested !== 'auto') return requested;
  const accepted = acceptedImageTypes(accept ?? '');
  if (source !== 'gif' && accepted.has('image/avif')) return 'avif';
  if (accepted.has('image/webp')) return 'webp';
  return source;
}

/** The media types an `Accept` header names with a quality above zero (RFC 9110 §12.5.1), lower-case. */
function acceptedImageTypes(accept: string): Set<string> {
  const accepted = new Set<string>();
  // Bounded: a hostile header of megabytes is not worth splitting.
  for (const part of accept.slice(0, 1024).split(',')) {
    const [type = '', ...parameters] = part.split(';').map((piece) => piece.trim().toLowerCase());
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    if (q !== undefined && !(Number(q.slice(2)) > 0)) continue;
    if (type) accepted.add(type);
  }
  return accepted;
}
