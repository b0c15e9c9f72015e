/**
 * AWS Signature Version 4 verification, as Amazon S3 performs it, for the
 * local development storage (see verifying-proxy.ts).
 *
 * Written from AWS's published descriptions, not from any SDK's signer:
 *   - "Signing AWS API requests" / "Create a signed AWS API request" (IAM User
 *     Guide): canonical request → string to sign → signing key → signature.
 *   - "Authenticating Requests: Using the Authorization Header (AWS Signature
 *     Version 4)" and "Signature Calculations for the Authorization Header:
 *     Transferring Payload in a Single Chunk" (Amazon S3 API Reference).
 *   - "Authenticating Requests: Using Query Parameters (AWS Signature
 *     Version 4)" (Amazon S3 API Reference), i.e. presigned URLs.
 *
 * Pure logic: no I/O, the clock and the secret store are passed in.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The only algorithm S3 accepts for SigV4 with a secret key. */
const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** Payload-hash placeholder used by presigned URLs (and clients that opt out of payload signing). */
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** S3's upper bound for X-Amz-Expires: seven days, in seconds. */
const MAX_PRESIGNED_EXPIRES_SECONDS = 604_800;
/** S3 refuses header-signed requests whose x-amz-date is more than 15 minutes off. */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

/** A request as the HTTP server received it. */
export interface SigV4Request {
  /** HTTP method as sent (e.g. `PUT`). */
  method: string;
  /** Path and query exactly as received (Node's `req.url`), e.g. `/bucket/key?X-Amz-Algorithm=…`. */
  rawUrl: string;
  /** Request headers; Node lower-cases the names. */
  headers: Record<string, string | string[] | undefined>;
}

/** What the verifier needs from its surroundings. */
export interface SigV4Options {
  /** The secret for an access key id, or `undefined` when the key is unknown. */
  lookupSecret: (accessKeyId: string) => string | undefined;
  /** The server's clock. */
  now: Date;
  /**
   * The region requests must be signed for, as S3 insists on the bucket's region. Undefined
   * accepts any (only for callers that have none).
   */
  region?: string;
}

/**
 * The outcome of verification. Failures carry S3's error code and HTTP status;
 * `detail` holds the extra elements S3 puts in its error XML (for
 * SignatureDoesNotMatch: the canonical request and string to sign the server
 * computed, which is what makes such errors debuggable).
 */
export type SigV4Verdict =
  | {
      ok: true;
      accessKeyId: string;
      /**
       * The SHA-256 (hex) the request declared for its body and signed (header auth with
       * `x-amz-content-sha256` a hash): the body must have it, which the caller checks as S3
       * does. Undefined for unsigned payloads and presigned URLs.
       */
      bodySha256?: string;
    }
  | { ok: false; status: number; code: string; message: string; detail?: Record<string, string> };

/** The refusal arm of {@link SigV4Verdict}. */
export type SigV4Failure = Extract<SigV4Verdict, { ok: false }>;

function fail(status: number, code: string, message: string, detail?: Record<string, string>): SigV4Failure {
  return detail === undefined ? { ok: false, status, code, message } : { ok: false, status, code, message, detail };
}

// ---------------------------------------------------------------------------
// Encoding helpers ("URI-encode" rules from "Create a canonical request")
// ---------------------------------------------------------------------------

const HEX = '0123456789ABCDEF';

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x5f || // _
    byte === 0x2e || // .
    byte === 0x7e // ~
  );
}

/**
 * AWS's URI-encode: every byte except `A-Z a-z 0-9 - _ . ~` becomes `%XY`
 * (upper-case hex; a space is `%20`, never `+`). Strings are encoded as UTF-8.
 * With `encodeSlash: false`, `/` is kept (for object key paths).
 */
export function uriEncode(input: string | Uint8Array, encodeSlash = true): string {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '';
  for (const byte of bytes) {
    if (isUnreserved(byte) || (byte === 0x2f && !encodeSlash)) {
      out += String.fromCharCode(byte);
    } else {
      out += '%' + HEX[byte >> 4] + HEX[byte & 0x0f];
    }
  }
  return out;
}

function hexValue(ch: string | undefined): number {
  if (ch === undefined) return -1;
  const c = ch.charCodeAt(0);
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * Percent-decodes to raw bytes (not to a string, so escapes of invalid UTF-8
 * survive a decode/encode round trip unchanged). A `%` not followed by two hex
 * digits is taken literally. In query strings `+` means a space, as in HTML
 * form encoding (the reading MinIO and most servers use); in paths it is a
 * literal plus.
 */
function percentDecode(input: string, plusIsSpace: boolean): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const ch = input[i] as string;
    if (ch === '%') {
      const hi = hexValue(input[i + 1]);
      const lo = hexValue(input[i + 2]);
      if (hi >= 0 && lo >= 0) {
        bytes.push(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    if (ch === '+' && plusIsSpace) {
      bytes.push(0x20);
      continue;
    }
    const code = input.codePointAt(i) as number;
    const char = String.fromCodePoint(code);
    for (const b of Buffer.from(char, 'utf8')) bytes.push(b);
    i += char.length - 1;
  }
  return Buffer.from(bytes);
}

/** Splits a request target into path and query (without the `?`). Absolute-form targets lose scheme and authority. */
function splitRawUrl(rawUrl: string): { path: string; query: string } {
  let target = rawUrl;
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (absolute) target = target.slice(absolute[0].length);
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  const q = target.indexOf('?');
  const path = q >= 0 ? target.slice(0, q) : target;
  return { path: path === '' ? '/' : path, query: q >= 0 ? target.slice(q + 1) : '' };
}

/**
 * Canonical URI, S3 style: the path as sent, neither normalised (no removal of
 * `.`/`..` or duplicate slashes) nor double-encoded. Each segment is decoded and
 * re-encoded only to bring it into AWS's URI-encoded form (so `%2f` → `%2F`,
 * a raw `+` → `%2B`, raw UTF-8 → `%XY`); `%2F` inside a segment stays `%2F`.
 */
export function canonicalUri(rawPath: string): string {
  if (rawPath === '') return '/';
  return rawPath
    .split('/')
    .map((segment) => uriEncode(percentDecode(segment, false)))
    .join('/');
}

/**
 * Query parameters in the order sent, name and value percent-decoded to bytes
 * (`+` read as a space). Empty pieces (`a=1&&b=2`) are skipped; a parameter
 * without `=` has an empty value.
 */
function queryPairBytes(rawQuery: string): Array<[key: Buffer, value: Buffer]> {
  const pairs: Array<[Buffer, Buffer]> = [];
  for (const piece of rawQuery.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const rawKey = eq >= 0 ? piece.slice(0, eq) : piece;
    const rawValue = eq >= 0 ? piece.slice(eq + 1) : '';
    pairs.push([percentDecode(rawKey, true), percentDecode(rawValue, true)]);
  }
  return pairs;
}

/** Decoded query parameters in the order sent; a parameter without `=` has the value `''`. */
function parseQuery(rawQuery: string): Array<[key: string, value: string]> {
  return queryPairBytes(rawQuery).map(([k, v]) => [k.toString('utf8'), v.toString('utf8')]);
}

/**
 * Canonical query string: every parameter except those in `omit` (for
 * presigned URLs, `X-Amz-Signature`), name and value decoded then URI-encoded,
 * sorted by encoded name and then value, joined as `name=value` with `&`.
 */
export function canonicalQueryString(rawQuery: string, omit: readonly string[] = []): string {
  const encoded = queryPairBytes(rawQuery)
    .filter(([key]) => !omit.includes(key.toString('utf8')))
    // Encode the decoded bytes rather than a decoded JS string, so escapes of
    // bytes that are not valid UTF-8 come out as they went in.
    .map(([key, value]): [string, string] => [uriEncode(key), uriEncode(value)]);
  // Encoded strings are pure ASCII, so code-unit order is byte order.
  encoded.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return encoded.map(([k, v]) => `${k}=${v}`).join('&');
}

/** A header's canonical value: trimmed, inner runs of spaces collapsed; repeated headers joined with `,`. */
export function canonicalHeaderValue(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  const values = Array.isArray(value) ? value : [value];
  return values.map((v) => v.trim().replace(/[ \t]+/g, ' ')).join(',');
}

/**
 * Canonical headers block: one `name:value\n` line per signed header, in the
 * order given (callers pass the sorted SignedHeaders list). A signed header the
 * request lacks gets an empty value, so the signature will not match.
 */
export function canonicalHeaders(
  headers: Record<string, string | string[] | undefined>,
  signedHeaders: readonly string[],
): string {
  const lower = lowerCaseHeaders(headers);
  return signedHeaders.map((name) => `${name}:${canonicalHeaderValue(lower.get(name))}\n`).join('');
}

/** The parts of a canonical request. `canonicalHeaders` is the block from {@link canonicalHeaders} (each line ends in `\n`). */
export interface CanonicalRequestParts {
  method: string;
  canonicalUri: string;
  canonicalQueryString: string;
  canonicalHeaders: string;
  signedHeaders: readonly string[];
  payloadHash: string;
}

/** Canonical request, per "Create a canonical request": six parts joined with `\n`. */
export function canonicalRequest(parts: CanonicalRequestParts): string {
  return [
    parts.method,
    parts.canonicalUri,
    parts.canonicalQueryString,
    parts.canonicalHeaders,
    parts.signedHeaders.join(';'),
    parts.payloadHash,
  ].join('\n');
}

/** Lower-case hex SHA-256. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** String to sign: algorithm, request date-time, credential scope, hex SHA-256 of the canonical request. */
export function stringToSign(input: { amzDate: string; scope: string; canonicalRequest: string }): string {
  return [SIGV4_ALGORITHM, input.amzDate, input.scope, sha256Hex(input.canonicalRequest)].join('\n');
}

function hmac(key: string | Uint8Array, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/**
 * Signing key: HMAC-SHA256 chain starting from `"AWS4" + secret`, over the
 * scope date (YYYYMMDD), region, service and the terminator `aws4_request`.
 */
export function deriveSigningKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac('AWS4' + secretAccessKey, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

/** Final signature: hex HMAC-SHA256 of the string to sign under the signing key. */
export function computeSignature(signingKey: Uint8Array, toSign: string): string {
  return createHmac('sha256', signingKey).update(toSign, 'utf8').digest('hex');
}

/** Constant-time string comparison (length is not secret: signatures are always 64 hex digits). */
function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) return false;
  return timingSafeEqual(ab, bb);
}

// ---------------------------------------------------------------------------
// Parsing the authentication inputs
// ---------------------------------------------------------------------------

function lowerCaseHeaders(headers: Record<string, string | string[] | undefined>): Map<string, string | string[]> {
  const map = new Map<string, string | string[]>();
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) map.set(name.toLowerCase(), value);
  }
  return map;
}

function singleHeader(headers: Map<string, string | string[]>, name: string): string | undefined {
  const v = headers.get(name);
  return Array.isArray(v) ? v.join(',') : v;
}

/** Parses `YYYYMMDDTHHMMSSZ` (ISO 8601 basic format, UTC). */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Reject values Date.UTC would silently roll over (e.g. month 13, 25:00).
  if (
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== s
  ) {
    return undefined;
  }
  return date;
}

/** Formats a Date as `YYYYMMDDTHHMMSSZ` (the X-Amz-Date format). */
export function toAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}/, '');
}

/** What both ways of carrying a SigV4 signature provide. */
interface AuthCommon {
  credential: string;
  signedHeaders: string;
  signature: string;
  /** X-Amz-Date as sent, and parsed. */
  amzDate: string;
  signedAt: Date;
}

/** Authentication read from the `Authorization` and `x-amz-*` headers. */
interface HeaderAuth extends AuthCommon {
  mode: 'header';
  /** The declared `x-amz-content-sha256`. */
  payloadHash: string;
}

/** Authentication read from a presigned URL's X-Amz-* parameters. */
interface QueryAuth extends AuthCommon {
  mode: 'query';
  expiresSeconds: number;
  /** An `X-Amz-Content-Sha256` query parameter, which some presigners add. */
  queryPayloadHash: string | undefined;
}

type Auth = HeaderAuth | QueryAuth;

/** Chooses the error code for a malformed auth input: S3 uses a different one for each carrier. */
function malformed(mode: Auth['mode'], message: string): SigV4Failure {
  return mode === 'query'
    ? fail(400, 'AuthorizationQueryParametersError', message)
    : fail(400, 'AuthorizationHeaderMalformed', message);
}

const CREDENTIAL_FORMAT = '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"';

/** Parses an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` value. */
export function parseAuthorizationHeader(
  value: string,
): { credential: string; signedHeaders: string; signature: string } | SigV4Failure {
  const trimmed = value.trim();
  const space = trimmed.indexOf(' ');
  const algorithm = space >= 0 ? trimmed.slice(0, space) : trimmed;
  if (algorithm !== SIGV4_ALGORITHM) {
    return fail(400, 'InvalidArgument', 'Unsupported Authorization Type');
  }
  const components = new Map<string, string>();
  for (const part of trimmed.slice(space + 1).split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) {
      return fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the authorization component "${item}" is malformed.`);
    }
    const key = item.slice(0, eq);
    if (components.has(key)) {
      return fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the authorization component "${key}" appears more than once.`);
    }
    components.set(key, item.slice(eq + 1));
  }
  const credential = components.get('Credential');
  const signedHeaders = components.get('SignedHeaders');
  const signature = components.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined || components.size !== 3) {
    return fail(
      400,
      'AuthorizationHeaderMalformed',
      'The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.',
    );
  }
  return { credential, signedHeaders, signature };
}

/** Reads and checks the X-Amz-* parameters of a presigned URL (names are case-sensitive, as in S3). */
function readQueryAuth(params: Array<[string, string]>): QueryAuth | SigV4Failure {
  const values = new Map<string, string>();
  for (const [key, value] of params) {
    if (!key.startsWith('X-Amz-')) continue;
    if (values.has(key)) {
      return fail(400, 'AuthorizationQueryParametersError', `The ${key} parameter appears more than once.`);
    }
    values.set(key, value);
  }
  if (values.get('X-Amz-Algorithm') !== SIGV4_ALGORITHM) {
    return fail(400, 'AuthorizationQueryParametersError', `X-Amz-Algorithm only supports "${SIGV4_ALGORITHM}"`);
  }
  const credential = values.get('X-Amz-Credential');
  const signature = values.get('X-Amz-Signature');
  const amzDate = values.get('X-Amz-Date');
  const signedHeaders = values.get('X-Amz-SignedHeaders');
  const expires = values.get('X-Amz-Expires');
  if (
    credential === undefined ||
    signature === undefined ||
    amzDate === undefined ||
    signedHeaders === undefined ||
    expires === undefined
  ) {
    return fail(
      400,
      'AuthorizationQueryParametersError',
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined) {
    return fail(400, 'AuthorizationQueryParametersError', `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  }
  if (!/^\d+$/.test(expires)) {
    return fail(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires should be a number');
  }
  const expiresSeconds = Number(expires);
  if (expiresSeconds < 1) {
    return fail(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires must be at least 1 second');
  }
  if (expiresSeconds > MAX_PRESIGNED_EXPIRES_SECONDS) {
    return fail(
      400,
      'AuthorizationQueryParametersError',
      'X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds',
    );
  }
  const queryPayloadHash = params.find(([k]) => k.toLowerCase() === 'x-amz-content-sha256')?.[1];
  return { mode: 'query', credential, signedHeaders, signature, amzDate, signedAt, expiresSeconds, queryPayloadHash };
}

const PAYLOAD_HASH = /^(?:[0-9a-f]{64}|UNSIGNED-PAYLOAD|STREAMING-[A-Z0-9-]+)$/;

/** Reads and checks `Authorization`, `x-amz-date` and `x-amz-content-sha256`. */
function readHeaderAuth(authorization: string, headers: Map<string, string | string[]>): HeaderAuth | SigV4Failure {
  const parsed = parseAuthorizationHeader(authorization);
  if ('ok' in parsed) return parsed;
  const amzDate = singleHeader(headers, 'x-amz-date');
  const signedAt = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (amzDate === undefined || signedAt === undefined) {
    // S3 would also take an RFC 1123 Date header; no SigV4 client relies on that.
    return fail(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  const payloadHash = singleHeader(headers, 'x-amz-content-sha256');
  if (payloadHash === undefined) {
    return fail(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  }
  if (!PAYLOAD_HASH.test(payloadHash)) {
    return fail(
      400,
      'InvalidArgument',
      'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.',
    );
  }
  return { mode: 'header', ...parsed, amzDate, signedAt, payloadHash };
}

/**
 * Time checks. A presigned URL is good from X-Amz-Date (less the usual skew
 * allowance) until X-Amz-Date + X-Amz-Expires; a header-signed request must be
 * dated within 15 minutes of the server's clock.
 */
function checkTime(auth: Auth, now: Date): SigV4Failure | undefined {
  const signedAt = auth.signedAt.getTime();
  if (auth.mode === 'query') {
    const expiresAt = signedAt + auth.expiresSeconds * 1000;
    if (now.getTime() > expiresAt) {
      return fail(403, 'AccessDenied', 'Request has expired', {
        'X-Amz-Expires': String(auth.expiresSeconds),
        Expires: isoSeconds(new Date(expiresAt)),
        ServerTime: isoSeconds(now),
      });
    }
    if (signedAt - now.getTime() > MAX_CLOCK_SKEW_MS) {
      return fail(403, 'AccessDenied', 'Request is not yet valid', { 'X-Amz-Date': auth.amzDate, ServerTime: isoSeconds(now) });
    }
    return undefined;
  }
  if (Math.abs(now.getTime() - signedAt) > MAX_CLOCK_SKEW_MS) {
    return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
      RequestTime: auth.amzDate,
      ServerTime: isoSeconds(now),
      MaxAllowedSkewMilliseconds: String(MAX_CLOCK_SKEW_MS),
    });
  }
  return undefined;
}

/** A parsed and checked credential scope: `AKID/YYYYMMDD/region/service/aws4_request`. */
interface Scope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  scope: string;
}

/** The service the credential scope must name. */
const SERVICE = 's3';

/** Checks the scope's shape, service, date and (when the server has one) region, as S3 does. */
function parseScope(auth: Auth, expectedRegion: string | undefined): Scope | SigV4Failure {
  const prefix =
    auth.mode === 'query'
      ? 'Error parsing the X-Amz-Credential parameter;'
      : 'The authorization header is malformed;';
  const parts = auth.credential.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) {
    return malformed(auth.mode, `${prefix} the Credential is mal-formed; expecting ${CREDENTIAL_FORMAT}.`);
  }
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  if (!/^\d{8}$/.test(date)) {
    return malformed(auth.mode, `${prefix} incorrect date format "${date}". This date in the credential must be in the format "yyyyMMdd".`);
  }
  if (date !== auth.amzDate.slice(0, 8)) {
    return malformed(auth.mode, `${prefix} Invalid credential date "${date}". This date is not the same as X-Amz-Date: "${auth.amzDate.slice(0, 8)}".`);
  }
  if (expectedRegion !== undefined && region !== expectedRegion) {
    const failure = malformed(auth.mode, `${prefix} the region '${region}' is wrong; expecting '${expectedRegion}'`);
    return { ...failure, detail: { ...failure.detail, Region: expectedRegion } };
  }
  if (service !== SERVICE) {
    return malformed(auth.mode, `${prefix} incorrect service "${service}". This endpoint belongs to "${SERVICE}".`);
  }
  if (terminator !== 'aws4_request') {
    return malformed(auth.mode, `${prefix} incorrect terminal "${terminator}". This endpoint uses "aws4_request".`);
  }
  return { accessKeyId, date, region, service, scope: `${date}/${region}/${service}/aws4_request` };
}

/**
 * SignedHeaders: lower-case names separated by `;`. They must include `host`
 * (S3 requires the host to be signed). The list is used sorted, as the
 * canonical request requires.
 */
function parseSignedHeaders(mode: Auth['mode'], value: string): string[] | SigV4Failure {
  const names = value.split(';');
  if (names.some((n) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(n))) {
    return malformed(mode, `SignedHeaders "${value}" must be a ;-separated list of lower-case header names.`);
  }
  if (!names.includes('host')) {
    return malformed(mode, `SignedHeaders "${value}" must include "host".`);
  }
  return [...new Set(names)].sort();
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/**
 * Verifies a request's SigV4 signature the way S3 does, supporting both
 * presigned URLs (X-Amz-* query parameters) and the `Authorization` header.
 *
 * Checks, in order: exactly one supported auth mechanism; well-formed auth
 * inputs (400s); a known access key; time (presigned: not expired, not dated in
 * the future; header: x-amz-date within 15 minutes); every `x-amz-*` header
 * signed; and finally the signature itself, compared in constant time.
 *
 * The payload hash is taken as declared (`x-amz-content-sha256`, or
 * `UNSIGNED-PAYLOAD` for presigned URLs) for the signature; a declared hash is
 * returned (`bodySha256`) for the caller to check against the body, which it
 * alone reads.
 */
export function verifySigV4(request: SigV4Request, options: SigV4Options): SigV4Verdict {
  const headers = lowerCaseHeaders(request.headers);
  const { path, query } = splitRawUrl(request.rawUrl);
  const params = parseQuery(query);
  const paramNames = new Set(params.map(([k]) => k));

  const authorization = singleHeader(headers, 'authorization');
  const viaHeader = authorization !== undefined;
  const viaQueryV4 = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature'].some((k) => paramNames.has(k));
  const viaQueryV2 = paramNames.has('Signature') && paramNames.has('AWSAccessKeyId');

  const mechanisms = [viaHeader, viaQueryV4, viaQueryV2].filter(Boolean).length;
  if (mechanisms === 0) {
    // Anonymous request: the development bucket is private, as darkroom's buckets are.
    return fail(403, 'AccessDenied', 'Access Denied');
  }
  if (mechanisms > 1) {
    return fail(
      400,
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
    );
  }
  if (viaQueryV2 || (authorization !== undefined && /^AWS /.test(authorization.trim()))) {
    // Signature Version 2: S3 accepts only SigV4 in every region opened since 2014.
    return fail(400, 'InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
  }

  const auth = authorization !== undefined ? readHeaderAuth(authorization, headers) : readQueryAuth(params);
  if ('ok' in auth) return auth;
  const scope = parseScope(auth, options.region);
  if ('ok' in scope) return scope;
  const signedHeaders = parseSignedHeaders(auth.mode, auth.signedHeaders);
  if ('ok' in signedHeaders) return signedHeaders;

  const secret = options.lookupSecret(scope.accessKeyId);
  if (secret === undefined) {
    return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
      AWSAccessKeyId: scope.accessKeyId,
    });
  }
  const late = checkTime(auth, options.now);
  if (late) return late;

  // S3 refuses x-amz-* headers that ride along unsigned (they could change
  // the meaning of the request, e.g. x-amz-acl, without invalidating it).
  const unsigned = [...headers.keys()].filter((name) => name.startsWith('x-amz-') && !signedHeaders.includes(name));
  if (unsigned.length > 0) {
    return fail(403, 'AccessDenied', 'There were headers present in the request which were not signed', {
      HeadersNotSigned: unsigned.sort().join(', '),
    });
  }

  // Header auth signs the declared payload hash; a presigned URL signs
  // UNSIGNED-PAYLOAD unless it binds a hash (signed header or parameter).
  const payloadHash =
    auth.mode === 'header'
      ? auth.payloadHash
      : signedHeaders.includes('x-amz-content-sha256')
        ? (singleHeader(headers, 'x-amz-content-sha256') ?? '')
        : (auth.queryPayloadHash ?? UNSIGNED_PAYLOAD);
  const canonical = canonicalRequest({
    method: request.method,
    canonicalUri: canonicalUri(path),
    canonicalQueryString: canonicalQueryString(query, auth.mode === 'query' ? ['X-Amz-Signature'] : []),
    canonicalHeaders: canonicalHeaders(request.headers, signedHeaders),
    signedHeaders,
    payloadHash,
  });
  const toSign = stringToSign({ amzDate: auth.amzDate, scope: scope.scope, canonicalRequest: canonical });
  const expected = computeSignature(deriveSigningKey(secret, scope.date, scope.region, scope.service), toSign);
  if (!constantTimeEqual(expected, auth.signature)) {
    return fail(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      {
        AWSAccessKeyId: scope.accessKeyId,
        StringToSign: toSign,
        SignatureProvided: auth.signature,
        CanonicalRequest: canonical,
      },
    );
  }
  const bodySha256 = auth.mode === 'header' && /^[0-9a-f]{64}$/.test(payloadHash) ? payloadHash : undefined;
  return bodySha256 === undefined ? { ok: true, accessKeyId: scope.accessKeyId } : { ok: true, accessKeyId: scope.accessKeyId, bodySha256 };
}
