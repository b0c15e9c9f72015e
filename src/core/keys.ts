/**
 * Storage keys and the file-name rules behind them.
 *
 * A key is `{id}-{name}`: `id` is 122 random bits (a v4 UUID in hex), so keys never collide and a presigned PUT
 * can never overwrite someone else's image; `name` is the client's file name made safe: lower-case
 * `[a-z0-9._-]`, no path parts, no `..`, bounded length. The object lives at `{prefix}{key}` in the
 * bucket and the public URL carries `{key}`.
 */
import { randomUUID } from 'node:crypto';
import { imageTypeForExtension, type ImageType } from './image-types.js';

/** Longest file name accepted from a client, in UTF-16 code units (before sanitising). */
export const maxClientFileNameLength = 255;
/** Longest sanitised stem kept in a key (the part before the extension). */
export const maxStemLength = 64;
/**
 * Bits of randomness in a key id: at least 96 so that ids do not collide at scale. The id is a v4
 * UUID (122 random bits) as 32 hex digits: `randomUUID` draws from a cached entropy pool, where
 * `randomBytes` makes a system call per key on the upload hot path.
 */
export const keyIdBits = 122;

const keyIdHexLength = 32;
/** Longest key darkroom ever produces: id, dash, stem, dot, the longest extension. */
export const maxKeyLength = keyIdHexLength + 1 + maxStemLength + 1 + 4;

const publicKeyPattern = new RegExp(`^[0-9a-f]{${keyIdHexLength}}-[a-z0-9][a-z0-9._-]*$`);

/** A client file name split into its safe stem and its (known) image extension. */
export interface SanitisedFileName {
  /** `{stem}.{extension}`, safe to put in a key. */
  readonly name: string;
  readonly extension: string;
  readonly imageType: ImageType;
}

/** Why a file name was refused. */
export type FileNameProblem = 'invalid' | 'unsupported-type';

/**
 * Turns a client's file name into a safe key name, or says why it cannot. Pure.
 * `invalid`: empty, too long, control characters, or no extension; `unsupported-type`: the
 * extension is not an image type darkroom knows.
 */
export function sanitiseFileName(
  fileName: string,
): { ok: true; value: SanitisedFileName } | { ok: false; problem: FileNameProblem } {
  if (fileName.length === 0 || fileName.length > maxClientFileNameLength) return invalid();
  // Control characters (C0, DEL, C1) have no business in a file name and are a log-injection risk.
  if (/\p{Cc}/u.test(fileName)) return invalid();
  // NFKC first so that full-width or compatibility forms ("ｊｐｇ") compare as their plain letters.
  const normalised = fileName.normalize('NFKC').trim();
  // Only the last path part counts: "../../etc/passwd.png" becomes "passwd.png".
  const baseName = normalised.split(/[/\\]/).pop() ?? '';
  const dot = baseName.lastIndexOf('.');
  if (dot < 0 || dot === baseName.length - 1) return invalid();
  const extension = baseName.slice(dot + 1).toLowerCase();
  const imageType = imageTypeForExtension(extension);
  if (!imageType) return { ok: false, problem: 'unsupported-type' };
  const stem = sanitiseStem(baseName.slice(0, dot));
  return { ok: true, value: { name: `${stem}.${extension}`, extension, imageType } };
}

/** Lower-case ASCII `[a-z0-9._-]`, accents folded, separators collapsed, bounded; never empty. */
export function sanitiseStem(stem: string): string {
  const folded = stem
    .normalize('NFKD')
    .replace(/\p{M}/gu, '') // strip combining marks: "é" → "e"
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.') // never "..", whatever the input
    .replace(/-{2,}/g, '-')
    .replace(/^[-._]+|[-._]+$/g, '');
  const bounded = folded.slice(0, maxStemLength).replace(/[-._]+$/, '');
  return bounded.length > 0 ? bounded : 'image';
}

/** A fresh key `{id}-{name}` with `keyIdBits` of randomness. */
export function newImageKey(name: string, uuid: () => string = randomUUID): string {
  return `${uuid().replaceAll('-', '')}-${name}`;
}

/**
 * True when `key` has the shape darkroom produces. The read path checks this before touching
 * storage, so no path traversal or odd key reaches the bucket.
 */
export function isWellFormedImageKey(key: string): boolean {
  return key.length <= maxKeyLength && publicKeyPattern.test(key) && !key.includes('..');
}

/** The object's location in the bucket. */
export function storageKey(prefix: string, key: string): string {
  return `${prefix}${key}`;
}

/** The extension of a well-formed key (lower-case, no dot), or undefined. */
export function extensionOfKey(key: string): string | undefined {
  const dot = key.lastIndexOf('.');
  return dot < 0 ? undefined : key.slice(dot + 1);
}

function invalid(): { ok: false; problem: FileNameProblem } {
  return { ok: false, problem: 'invalid' };
}
