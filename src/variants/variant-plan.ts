/**
 * One variant, fully decided before any byte is read: its size, format, quality and object key.
 * The read path looks the key up first and only transforms on a miss. Pure.
 */
import type { VariantsSpec } from '../config/darkroom-app.js';
import { contentTypeOf, negotiateFormat, sourceFormatOf, type OutputFormat } from './format-negotiation.js';
import { variantObjectKey, variantsPrefix, type VariantParameters } from './variant-key.js';
import type { VariantChoice } from './variant-query.js';

/** sharp's (libvips') own default qualities, named so that the object key records them. */
export const defaultQualities: Readonly<Record<OutputFormat, number | undefined>> = {
  avif: 50,
  webp: 80,
  jpeg: 80,
  png: undefined, // lossless
  gif: undefined, // palette; no quality knob
};

/** A decided variant. */
export interface VariantPlan extends VariantParameters {
  /** The variant object's key in the bucket. */
  readonly objectKey: string;
  /** The canonical MIME type of the output. */
  readonly contentType: string;
  /** True when the format came from `Accept` (`auto`): the answer must carry `Vary: Accept`. */
  readonly variesByAccept: boolean;
}

/** What `planVariant` needs to know about the request and the original. */
export interface PlanInput {
  readonly choice: VariantChoice;
  readonly variants: VariantsSpec;
  readonly storagePrefix: string;
  /** The original's public key (`{id}-{name}`). */
  readonly originalKey: string;
  /** The original's canonical image type, from its extension. */
  readonly sourceContentType: string;
  readonly accept: string | undefined;
}

export function planVariant(input: PlanInput): VariantPlan {
  const { choice } = input;
  const format = negotiateFormat(choice.format, input.accept, sourceFormatOf(input.sourceContentType));
  const lossless = defaultQualities[format] === undefined;
  const parameters: VariantParameters = {
    width: choice.width,
    height: choice.height,
    fit: choice.fit,
    format,
    quality: lossless ? undefined : (choice.quality ?? defaultQualities[format]),
  };
  return {
    ...parameters,
    objectKey: variantObjectKey(variantsPrefix(input.storagePrefix, input.variants.prefix), input.originalKey, parameters),
    contentType: contentTypeOf(format),
    variesByAccept: choice.format === 'auto',
  };
}
