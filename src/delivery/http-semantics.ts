/**
 * HTTP validators and ranges for the public read, as pure functions over header values
 * (RFC 9110 §13 conditional requests, §14 range requests). The read path calls them with what it
 * knows of the object (its metadata, or the CDN's response headers).
 */

/** A single byte range as the client wrote it: `first-last`, `first-` or a suffix `-length`. */
export type RangeSpec =
  | { readonly kind: 'from'; readonly first: number; readonly last: number | undefined }
  | { readonly kind: 'suffix'; readonly length: number };

/** A range resolved against the object's size: bytes `start` to `end`, inclusive. */
export interface ResolvedRange {
  readonly start: number;
  readonly end: number;
}

// Byte positions beyond 2^53 cannot be objects darkroom stores; treat them as unsatisfiable.
const maxPosition = Number.MAX_SAFE_INTEGER;

/**
 * Parses a `Range` header. Returns undefined when the range should be ignored and the whole
 * object sent: no header, a unit other than `bytes`, a syntactically invalid set, or several
 * ranges (multipart/byteranges is not worth its cost for images; RFC 9110 §14.2 lets a server
 * ignore Range).
 */
export function parseRange(header: string | undefined): RangeSpec | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return undefined;
  const [, firstText = '', lastText = ''] = match;
  if (firstText === '' && lastText === '') return undefined;
  if (firstText === '') return { kind: 'suffix', length: safeNumber(lastText) };
  const first = safeNumber(firstText);
  const last = lastText === '' ? undefined : safeNumber(lastText);
  // "last < first" is an invalid range-spec, which a server ignores (RFC 9110 §14.1.1).
  if (last !== undefined && last < first) return undefined;
  return { kind: 'from', first, last };
}

/** The range within an object of `size` bytes, or `unsatisfiable` (answered with 416). */
export function resolveRange(spec: RangeSpec, size: number): ResolvedRange | 'unsatisfiable' {
  if (spec.kind === 'suffix') {
    if (spec.length === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - spec.length), end: size - 1 };
  }
  if (spec.first >= size) return 'unsatisfiable';
  return { start: spec.first, end: Math.min(spec.last ?? size - 1, size - 1) };
}

/** The `Range` header value that asks an upstream for `spec`. */
export function formatRange(spec: RangeSpec): string {
  return spec.kind === 'suffix' ? `bytes=-${spec.length}` : `bytes=${spec.first}-${spec.last ?? ''}`;
}

/** `Content-Range` of a 206 (`bytes 0-9/100`) or of a 416 (`bytes *\/100`). */
export function contentRange(range: ResolvedRange | 'unsatisfiable', size: number): string {
  return range === 'unsatisfiable' ? `bytes */${size}` : `bytes ${range.start}-${range.end}/${size}`;
}

/** Parses a 206's `Content-Range: bytes start-end/size` (size may be `*`). */
export function parseContentRange(header: string | undefined): { start: number; end: number; size: number | undefined } | undefined {
  const match = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  const [, start = '', end = '', size = '*'] = match;
  return { start: Number(start), end: Number(end), size: size === '*' ? undefined : Number(size) };
}

/** The request's validators. */
export interface Preconditions {
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
  readonly ifRange?: string | undefined;
}

/** The object's validators. */
export interface Validators {
  readonly etag?: string | undefined;
  readonly lastModified?: Date | undefined;
}

const entityTagPattern = /\*|(?:W\/)?"[^"]*"/g;

function opaqueTag(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/**
 * True when a GET or HEAD should be answered 304 (RFC 9110 §13.2.2): `If-None-Match` matches
 * the ETag (weak comparison), or, only when there is no `If-None-Match`, the object was not
 * modified after `If-Modified-Since` (HTTP dates have second precision).
 */
export function isNotModified(conditions: Preconditions, object: Validators): boolean {
  if (conditions.ifNoneMatch !== undefined) {
    const tags: string[] = conditions.ifNoneMatch.match(entityTagPattern) ?? [];
    if (tags.includes('*')) return true;
    if (!object.etag) return false;
    const current = opaqueTag(object.etag);
    return tags.some((tag) => opaqueTag(tag) === current);
  }
  if (conditions.ifModifiedSince !== undefined && object.lastModified) {
    const since = Date.parse(conditions.ifModifiedSince);
    if (Number.isNaN(since)) return false;
    return Math.floor(object.lastModified.getTime() / 1000) <= Math.floor(since / 1000);
  }
  return false;
}

/**
 * True when a `Range` may be honoured under `If-Range` (RFC 9110 §13.1.5): no `If-Range`, an
 * entity tag that matches strongly, or a date equal to Last-Modified. Otherwise the whole object
 * is sent.
 */
export function rangeStillValid(conditions: Preconditions, object: Validators): boolean {
  const ifRange = conditions.ifRange?.trim();
  if (!ifRange) return true;
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) {
    return !ifRange.startsWith('W/') && object.etag !== undefined && !object.etag.startsWith('W/') && ifRange === object.etag;
  }
  const date = Date.parse(ifRange);
  return !Number.isNaN(date) && object.lastModified !== undefined && Math.floor(object.lastModified.getTime() / 1000) === Math.floor(date / 1000);
}

function safeNumber(text: string): number {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : maxPosition;
}
