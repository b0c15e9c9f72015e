/**
 * The variant a read URL asks for (`?w=640`, `?preset=thumb`, optionally `&q=75`), checked
 * against the app's `spec.variants`. Only listed widths, presets and qualities pass, so no URL
 * can make unbounded variants or bust every cache with a new query (imgproxy and Next.js's image
 * optimiser allow-list sizes for the same reason). Pure.
 */
import { darkroomError } from '../core/errors.js';
import type { VariantPreset, VariantsSpec } from '../config/darkroom-app.js';

/** How an image meets the box: crop to fill, letterbox, or fit within. */
export type VariantFit = VariantPreset['fit'];
/** A requested output format; `auto` is decided by the request's `Accept` header. */
export type RequestedFormat = VariantPreset['format'];

/** A variant the app offers, as the URL chose it. */
export interface VariantChoice {
  /** Box width in pixels; the image is never made wider than it is. */
  readonly width: number;
  /** Box height in pixels; undefined keeps the aspect ratio. */
  readonly height: number | undefined;
  readonly fit: VariantFit;
  readonly format: RequestedFormat;
  /** Encoder quality 1 to 100; undefined means the format's default. */
  readonly quality: number | undefined;
}

/** What a read URL's query asks for: the original, or one variant. */
export type ReadTarget = { readonly kind: 'original' } | { readonly kind: 'variant'; readonly choice: VariantChoice };

const variantParameters = new Set(['w', 'preset', 'q']);
// Plain decimal without sign, leading zero or exponent: "0640" or "6.4e2" must not name 640.
const decimal = /^[1-9][0-9]{0,4}$/;

/**
 * Reads the query of a read URL (`search` as in `URL.search`, with or without `?`). Throws
 * INVALID_VARIANT for anything but exactly one of `w` or `preset` (each once) with an optional
 * `q`, each from the app's lists; an app without `spec.variants` accepts only an empty query.
 */
export function parseReadTarget(search: string, variants: VariantsSpec | undefined): ReadTarget {
  const params = new URLSearchParams(search);
  const names = [...params.keys()];
  if (names.length === 0) return { kind: 'original' };
  if (!variants) throw invalid('variant parameters on an app without variants');
  if (names.some((name) => !variantParameters.has(name))) throw invalid('an unknown query parameter');
  if (new Set(names).size !== names.length) throw invalid('a repeated query parameter');

  const width = params.get('w');
  const presetName = params.get('preset');
  const quality = params.get('q');
  if ((width === null) === (presetName === null)) throw invalid('neither or both of w and preset');

  const requestedQuality = quality === null ? undefined : listed(quality, variants.qualities, 'q');
  if (width !== null) {
    return { kind: 'variant', choice: { width: listed(width, variants.widths, 'w'), height: undefined, fit: 'inside', format: 'auto', quality: requestedQuality } };
  }
  const preset = variants.presets.find((candidate) => candidate.name === presetName);
  if (!preset) throw invalid('an unknown preset');
  return {
    kind: 'variant',
    choice: { width: preset.width, height: preset.height, fit: preset.fit, format: preset.format, quality: requestedQuality ?? preset.quality },
  };
}

function listed(value: string, allowed: readonly number[], name: string): number {
  const number = decimal.test(value) ? Number(value) : Number.NaN;
  if (!allowed.includes(number)) throw invalid(`${name} not in the app's list`);
  return number;
}

// The reason goes to the log (as the cause), never into the answer: the catalogue text is the answer.
function invalid(reason: string) {
  return darkroomError('INVALID_VARIANT', { cause: new Error(reason) });
}
