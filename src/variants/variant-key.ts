/**
 * Where a variant lives in the bucket: `{variants prefix}{original key}/{descriptor}.{format}`,
 * e.g. `uploads/variants/3f…9a-cat.jpg/w640-q80.webp`. Deterministic, so every replica finds (or
 * overwrites with identical bytes) the same object; it names every parameter that changes the
 * bytes, so editing a preset's size makes a new object instead of serving a stale one; and it
 * holds a `/` after the original key, so no public key (which never holds one) can read it as an
 * original. Bounded: prefix ≤ 256, key ≤ 102, descriptor ≤ 40 characters. Pure.
 */
import type { OutputFormat } from './format-negotiation.js';
import type { VariantFit } from './variant-query.js';

/** The parameters that decide a variant's bytes. */
export interface VariantParameters {
  readonly width: number;
  readonly height: number | undefined;
  readonly fit: VariantFit;
  readonly format: OutputFormat;
  /** The effective encoder quality; undefined for lossless output (PNG, GIF). */
  readonly quality: number | undefined;
}

/** The variants prefix of an app: its own, or `{storage.prefix}variants/`. */
export function variantsPrefix(storagePrefix: string, variantsPrefixSetting: string | undefined): string {
  return variantsPrefixSetting ?? `${storagePrefix}variants/`;
}

/** The object key of one variant of the original at public key `originalKey`. */
export function variantObjectKey(prefix: string, originalKey: string, parameters: VariantParameters): string {
  const parts = [`w${parameters.width}`];
  // Without a height the box has no shape to fit, so fit does not change the bytes.
  if (parameters.height !== undefined) parts.push(`h${parameters.height}`, parameters.fit);
  if (parameters.quality !== undefined) parts.push(`q${parameters.quality}`);
  return `${prefix}${originalKey}/${parts.join('-')}.${parameters.format}`;
}
