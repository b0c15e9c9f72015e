/**
 * SigV4 query-string signing (presigned URLs) for one request shape, prepared once.
 *
 * `@smithy/signature-v4` clones the request, re-derives which headers to hoist and sign, re-hashes
 * the secret to find its signing key and passes a raw key to every HMAC (which Node ≥ 22 checks
 * against each `KeyObject` kind): about 17–25 µs per URL. Between two uploads of one bucket only
 * the path, the Content-Type and Content-Length headers, the date, the expiry and (rarely) the
 * credentials change, so everything else — the hoisted and signed template headers, the payload
 * hash, the signing key of the day as a `KeyObject` — is computed here once. The rules are
 * signature-v4's own (`presign` with `uriEscapePath: false`, as S3 signs); `S3Presigner` checks
 * this signer against it when it prepares a shape, and the tests against `getSignedUrl`.
 *
 * `src/devstorage/sigv4.ts` has SigV4 primitives too; they stay apart on purpose. That verifier is
 * written from AWS's description so that the embedded storage checks this signer rather than
 * agreeing with it by construction, and the two canonicalise header values by different texts.
 */
import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/** Credentials as the SDK resolves them. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** What stays the same for every URL of one shape. */
export interface RequestShape {
  readonly method: string;
  /** Query parameters of the unsigned request (S3: `x-id=PutObject`). */
  readonly query: Readonly<Record<string, string>>;
  /** Headers of the unsigned request, per-URL ones excluded (`host`, `X-Amz-Content-Sha256`, …). */
  readonly headers: Readonly<Record<string, string>>;
  readonly region: string;
  readonly service: string;
  /**
   * Headers the caller's options declare unsignable (getSignedUrl: content-type); a per-URL
   * header listed in `signable` is signed all the same.
   */
  readonly unsignable: ReadonlySet<string>;
}

/** What changes from one URL to the next. */
export interface QuerySigningInput {
  /** The URI-encoded path, used as is in the canonical request (S3 does not encode it twice). */
  readonly path: string;
  /** Per-URL headers, lower-case names (content-type, content-length; never `x-amz-*`, which would be hoisted). */
  readonly headers: Readonly<Record<string, string>>;
  /** Per-URL headers to sign even when `unsignable` lists them. */
  readonly signable: ReadonlySet<string>;
  readonly expiresInSeconds: number;
  readonly signingDate: Date;
  readonly credentials: SigningCredentials;
}

/** SigV4's longest presigned lifetime: seven days. */
export const maxPresignedSeconds = 604_800;
const algorithm = 'AWS4-HMAC-SHA256';
const emptyPayloadHash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** Never signed (signature-v4's list), unless the caller names them signable. */
const alwaysUnsignable = new Set([
  'authorization',
  'cache-control',
  'connection',
  'expect',
  'from',
  'keep-alive',
  'max-forwards',
  'pragma',
  'referer',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'x-amzn-trace-id',
]);
const tokenParameter = 'X-Amz-Security-Token';
/** Query parameters the signer always sets, whatever the request had. */
const signerParameters = new Set(['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature']);
/** Removed before signing: the signer produces them. */
const generatedHeaders = new Set(['authorization', 'x-amz-date', 'date']);

const unreserved = /^[A-Za-z0-9\-._~]*$/;

/** RFC 3986 encoding as the AWS SDK applies it: encodeURIComponent plus `!'()*`. */
export function escapeUri(value: string): string {
  // Most names and values (X-Amz-*, dates, numbers, hex) need no encoding: skip the two passes.
  if (unreserved.test(value)) return value;
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A header value as SigV4 canonicalises it: line breaks and runs of blanks to one space, trimmed. */
function canonicalHeaderValue(value: string): string {
  return value.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

function isUnsignable(name: string, unsignable: ReadonlySet<string>): boolean {
  return alwaysUnsignable.has(name) || unsignable.has(name) || name.startsWith('proxy-') || name.startsWith('sec-');
}

/** `20261125T123456Z` from a date, as signature-v4 formats it. */
function amzDate(date: Date): string {
  const iso = date.toISOString();
  // YYYY-MM-DDTHH:MM:SS.sssZ → YYYYMMDDTHHMMSSZ (years outside 0–9999 take signature-v4's slower form).
  if (iso.length !== 24) return iso.replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/** A query parameter with its encoded forms: the canonical query orders by `encodedName`, the URL by `name`. */
interface EncodedParameter {
  readonly name: string;
  readonly encodedName: string;
  /** `encodedName=encodedValue` */
  readonly pair: string;
}

function encodeParameter(name: string, value: string): EncodedParameter {
  const encodedName = escapeUri(name);
  return { name, encodedName, pair: `${encodedName}=${escapeUri(value)}` };
}

/** Code-unit order, as `Array.prototype.sort` without a comparator. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class SigV4QuerySigner {
  readonly #shape: RequestShape;
  /** Query parameters from the shape (its own plus the hoisted `x-amz-*` headers), encoded once. */
  readonly #fixedQuery: readonly EncodedParameter[];
  /** Headers from the shape, canonical name → canonical value, and whether only `signable` signs them. */
  readonly #fixedHeaders: ReadonlyMap<string, { readonly value: string; readonly unsignable: boolean }>;
  readonly #payloadHash: string;
  #signingKey: { readonly scopeDate: string; readonly secret: string; readonly key: KeyObject } | undefined;

  constructor(shape: RequestShape) {
    this.#shape = shape;
    const query: Record<string, string> = { ...shape.query };
    const headers = new Map<string, { value: string; unsignable: boolean }>();
    let payloadHash: string | undefined;
    for (const [name, value] of Object.entries(shape.headers)) {
      const lower = name.toLowerCase();
      if (lower === 'x-amz-content-sha256') payloadHash ??= value;
      if (generatedHeaders.has(lower)) continue;
      if (lower.startsWith('x-amz-')) {
        query[name] = value; // hoisted into the query, as presign does with every x-amz-* header
        continue;
      }
      headers.set(lower, { value: canonicalHeaderValue(value), unsignable: isUnsignable(lower, shape.unsignable) });
    }
    this.#fixedQuery = Object.entries(query)
      .filter(([name]) => !signerParameters.has(name))
      .map(([name, value]) => encodeParameter(name, value));
    this.#fixedHeaders = headers;
    // The declared payload hash wins; a request without a body signs the hash of nothing.
    this.#payloadHash = payloadHash ?? emptyPayloadHash;
  }

  /** The signed URL's query string: parameters ordered by name, as the SDK formats a URL. */
  sign(input: QuerySigningInput): string {
    if (input.expiresInSeconds > maxPresignedSeconds) {
      throw new Error('Signature version 4 presigned URLs must have an expiration date less than one week in the future');
    }
    const { credentials } = input;
    const { region, service } = this.#shape;
    const longDate = amzDate(input.signingDate);
    const shortDate = longDate.slice(0, 8);
    const scope = `${shortDate}/${region}/${service}/aws4_request`;

    const headers = new Map<string, string>();
    for (const [name, header] of this.#fixedHeaders) {
      if (!header.unsignable || input.signable.has(name)) headers.set(name, header.value);
    }
    for (const [name, value] of Object.entries(input.headers)) {
      if (isUnsignable(name, this.#shape.unsignable) && !input.signable.has(name)) continue;
      headers.set(name, canonicalHeaderValue(value));
    }
    const headerNames = [...headers.keys()].sort();
    const signedHeaders = headerNames.join(';');

    const signedQuery = [
      ...(credentials.sessionToken ? [encodeParameter(tokenParameter, credentials.sessionToken)] : []),
      encodeParameter('X-Amz-Algorithm', algorithm),
      encodeParameter('X-Amz-Credential', `${credentials.accessKeyId}/${scope}`),
      encodeParameter('X-Amz-Date', longDate),
      encodeParameter('X-Amz-Expires', input.expiresInSeconds.toString(10)),
      encodeParameter('X-Amz-SignedHeaders', signedHeaders),
    ];
    // The signer's parameters replace the shape's of the same name, as presign's assignments do.
    const fixedQuery = credentials.sessionToken ? this.#fixedQuery.filter((parameter) => parameter.name !== tokenParameter) : this.#fixedQuery;
    const parameters = [...fixedQuery, ...signedQuery];
    const canonicalQuery = parameters
      .toSorted((a, b) => compare(a.encodedName, b.encodedName))
      .map((parameter) => parameter.pair)
      .join('&');
    const canonicalHeaders = headerNames.map((name) => `${name}:${headers.get(name) as string}`).join('\n');
    const canonicalRequest = `${this.#shape.method}\n${input.path}\n${canonicalQuery}\n${canonicalHeaders}\n\n${signedHeaders}\n${this.#payloadHash}`;
    const stringToSign = `${algorithm}\n${longDate}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
    const signature = createHmac('sha256', this.#signingKeyFor(shortDate, credentials.secretAccessKey)).update(stringToSign).digest('hex');
    parameters.push(encodeParameter('X-Amz-Signature', signature));
    return parameters
      .sort((a, b) => compare(a.name, b.name))
      .map((parameter) => parameter.pair)
      .join('&');
  }

  /** The day's signing key for this region and service, derived once per day and secret. */
  #signingKeyFor(shortDate: string, secret: string): KeyObject {
    const cached = this.#signingKey;
    if (cached && cached.scopeDate === shortDate && cached.secret === secret) return cached.key;
    let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(shortDate).digest();
    for (const part of [this.#shape.region, this.#shape.service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    this.#signingKey = { scopeDate: shortDate, secret, key: createSecretKey(key) };
    return this.#signingKey.key;
  }
}
