/**
 * "Images only" on the read path, as pure decisions: the stored Content-Type must be the image
 * type the key's extension names, that extension must be allowed by the app, and the first bytes
 * must carry that format's signature. Anything else (HTML or SVG uploaded under `.jpg`) is refused.
 */
import { matchesImageSignature } from '../core/image-signatures.js';
import { contentTypeMatches, imageTypeForExtension, type ImageType } from '../core/image-types.js';
import { extensionOfKey } from '../core/keys.js';

/** Why a stored object was refused; the `reason` label of `darkroom_image_reads_refused_total`. */
export type RefusalReason = 'extension_not_allowed' | 'type_mismatch' | 'signature_mismatch' | 'too_large';

export type TypeCheck = { ok: true; type: ImageType } | { ok: false; reason: RefusalReason };

/**
 * Checks what can be checked without the bytes: the key's extension is one the app allows, and
 * the stored Content-Type (absent counts as wrong) is the image type of that extension.
 */
export function checkStoredType(key: string, storedContentType: string | undefined, allowedExtensions: readonly string[]): TypeCheck {
  const extension = extensionOfKey(key);
  const type = extension === undefined ? undefined : imageTypeForExtension(extension);
  if (!type || extension === undefined || !allowedExtensions.includes(extension)) return { ok: false, reason: 'extension_not_allowed' };
  if (storedContentType === undefined || !contentTypeMatches(storedContentType, type)) return { ok: false, reason: 'type_mismatch' };
  return { ok: true, type };
}

/** Checks the object's first bytes against the signature of `type`. */
export function checkSignature(type: ImageType, prefix: Uint8Array): { ok: true } | { ok: false; reason: RefusalReason } {
  return matchesImageSignature(type.contentType, prefix) ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
}
