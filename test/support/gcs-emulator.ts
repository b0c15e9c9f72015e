/**
 * A small in-process GCS for tests, on `node:http` at a free loopback port:
 * - XML API `PUT /<bucket>/<object>` accepting only V4 signed URLs, verified from Google's published
 *   description of V4 signing ("Signature version 4 signing process",
 *   https://cloud.google.com/storage/docs/authentication/signatures) with the service account's
 *   public key, independently of the library that signed them: canonical request, GOOG4-RSA-SHA256
 *   string to sign, RSA-SHA256 verification, expiry, signed headers, and
 *   `x-goog-content-length-range` enforced on the body, `x-goog-if-generation-match` (412) before it.
 * - JSON API `GET /storage/v1/b/<bucket>/o/<object>` (metadata) and `?alt=media` (download, with
 *   `Range`), and `POST /upload/storage/v1/b/<bucket>/o?uploadType=multipart` (a write with
 *   metadata, as darkroom stores variants), errors in the JSON API's format.
 * - JSON API `GET /storage/v1/b/<bucket>` (the bucket resource, with its `cors` list as a test sets
 *   it in `bucketCors`), or 403 while `bucketMetadataForbidden` is set.
 * - IAM Credentials `POST /iam/v1/projects/-/serviceAccounts/<email>:signBlob`, signing with the
 *   test key for a bearer token it was given, and able to fail or stall on demand.
 */
import { createHash, createSign, createVerify, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A stored object. */
export interface EmulatedObject {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly generation: string;
  readonly updated: Date;
}

/** How the signBlob endpoint behaves. */
export type SignBlobMode = { kind: 'sign' } | { kind: 'fail'; status: number } | { kind: 'stall' };

export interface GcsEmulatorOptions {
  readonly buckets: readonly string[];
  /** Service accounts whose V4 signatures are accepted: email → public key. */
  readonly publicKeys: ReadonlyMap<string, KeyObject>;
  /** Keys the signBlob endpoint signs with: email → private key. Default none. */
  readonly signBlobKeys?: ReadonlyMap<string, KeyObject>;
  /** The bearer token signBlob requires. Default `emulator-token`. */
  readonly accessToken?: string;
}

export interface GcsEmulator {
  /** `http://127.0.0.1:PORT`, for `apiEndpoint`. */
  readonly endpoint: string;
  /** Base for signBlob, as `signingEndpoint` expects it (ends with `/serviceAccounts/`). */
  readonly signingEndpoint: string;
  readonly objects: Map<string, EmulatedObject>;
  /** Added to the real clock when checking expiry, in ms. */
  clockOffsetMs: number;
  signBlobMode: SignBlobMode;
  /** How many signBlob calls arrived. */
  signBlobCalls: number;
  /** Each bucket's `cors` metadata (GCS's bucket resource field); absent means none. */
  readonly bucketCors: Map<string, { origin?: string[]; method?: string[]; responseHeader?: string[]; maxAgeSeconds?: number }[]>;
  /** Answer bucket metadata reads with 403, as for an identity without `storage.buckets.get`. */
  bucketMetadataForbidden: boolean;
  close(): Promise<void>;
}

/** A throwaway service account for one test run: generated here, never stored. */
export interface TestServiceAccount {
  readonly clientEmail: string;
  /** PKCS#8 PEM, as in a JSON key's `private_key`. */
  readonly privateKeyPem: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function testServiceAccount(clientEmail = 'darkroom-test@darkroom-test.iam.gserviceaccount.com'): TestServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    clientEmail,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    privateKey,
    publicKey,
  };
}

export async function startGcsEmulator(options: GcsEmulatorOptions): Promise<GcsEmulator> {
  const objects = new Map<string, EmulatedObject>();
  const buckets = new Set(options.buckets);
  let generation = 1_700_000_000_000_000;
  const state = { clockOffsetMs: 0, signBlobMode: { kind: 'sign' } as SignBlobMode, signBlobCalls: 0, bucketMetadataForbidden: false };
  const bucketCors: GcsEmulator['bucketCors'] = new Map();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) jsonError(res, 500, String(error));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    const signBlob = /^\/iam\/v1\/projects\/-\/serviceAccounts\/([^/]+):signBlob$/.exec(rawPath);
    if (req.method === 'POST' && signBlob) return handleSignBlob(req, res, decodeURIComponent(signBlob[1] ?? ''));
    const json = /^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(rawPath);
    if ((req.method === 'GET' || req.method === 'HEAD') && json) {
      return handleJsonGet(req, res, decodeURIComponent(json[1] ?? ''), decodeURIComponent(json[2] ?? ''), url);
    }
    const bucketResource = /^\/storage\/v1\/b\/([^/]+)$/.exec(rawPath);
    if (req.method === 'GET' && bucketResource) return handleBucketGet(res, decodeURIComponent(bucketResource[1] ?? ''));
    if (req.method === 'PUT') return handleXmlPut(req, res, rawPath, url);
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(rawPath);
    if (req.method === 'POST' && upload) return handleMultipartUpload(req, res, decodeURIComponent(upload[1] ?? ''), url);
    req.resume();
    jsonError(res, 404, 'Not Found');
  }

  async function handleXmlPut(req: IncomingMessage, res: ServerResponse, rawPath: string, url: URL): Promise<void> {
    const [, bucket = '', ...segments] = rawPath.split('/');
    const objectName = segments.map((segment) => decodeURIComponent(segment)).join('/');
    if (!buckets.has(bucket)) return refuseXml(req, res, 404, 'NoSuchBucket', 'The specified bucket does not exist.');
    const verdict = verifyV4SignedRequest({
      method: 'PUT',
      bucket,
      objectName,
      query: url.searchParams,
      headers: req.headers,
      publicKeys: options.publicKeys,
      now: Date.now() + state.clockOffsetMs,
    });
    if (!verdict.ok) return refuseXml(req, res, verdict.status, verdict.code, verdict.message);
    // x-goog-if-generation-match: 0 means "only if no live object": GCS answers 412 otherwise.
    const generationMatch = headerValue(req.headers['x-goog-if-generation-match']);
    const existing = objects.get(`${bucket}/${objectName}`);
    if (generationMatch !== undefined && (generationMatch === '0' ? existing !== undefined : existing?.generation !== generationMatch)) {
      return refuseXml(req, res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
    }
    const body = await readBody(req, verdict.lengthRange?.max ?? Number.POSITIVE_INFINITY);
    if (verdict.lengthRange && !inRange(body.length, verdict.lengthRange)) {
      return refuseXml(req, res, 400, body.length > verdict.lengthRange.max ? 'EntityTooLarge' : 'EntityTooSmall', 'Your upload is outside x-goog-content-length-range.');
    }
    const bytes = body.bytes;
    const stored: EmulatedObject = {
      bytes,
      contentType: headerValue(req.headers['content-type']) ?? 'application/octet-stream',
      generation: String(++generation),
      updated: new Date(),
    };
    objects.set(`${bucket}/${objectName}`, stored);
    res.writeHead(200, { ETag: `"${md5(bytes).toString('hex')}"`, 'x-goog-generation': stored.generation, 'Content-Length': '0' });
    res.end();
  }

  function handleBucketGet(res: ServerResponse, bucket: string): void {
    if (state.bucketMetadataForbidden) return jsonError(res, 403, 'darkroom-test does not have storage.buckets.get access to the Google Cloud Storage bucket.');
    if (!buckets.has(bucket)) return jsonError(res, 404, 'The specified bucket does not exist.');
    const cors = bucketCors.get(bucket);
    const body = JSON.stringify({ kind: 'storage#bucket', id: bucket, name: bucket, ...(cors ? { cors } : {}) });
    res.writeHead(200, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  /**
   * JSON API simple upload with metadata, `uploadType=multipart` ("Perform a multipart upload",
   * https://cloud.google.com/storage/docs/uploading-objects#uploading-an-object): a
   * `multipart/related` body of the object's JSON metadata, then its bytes with their own type.
   */
  async function handleMultipartUpload(req: IncomingMessage, res: ServerResponse, bucket: string, url: URL): Promise<void> {
    const body = (await readBody(req, Number.POSITIVE_INFINITY)).bytes;
    if (!buckets.has(bucket)) return jsonError(res, 404, 'The specified bucket does not exist.');
    if (url.searchParams.get('uploadType') !== 'multipart') return jsonError(res, 400, 'Only uploadType=multipart is emulated.');
    const boundary = /boundary="?([^";]+)"?/.exec(headerValue(req.headers['content-type']) ?? '')?.[1];
    if (!boundary) return jsonError(res, 400, 'Missing multipart boundary.');
    const parts = splitMultipart(body, boundary);
    const [metadataPart, mediaPart] = parts;
    if (parts.length !== 2 || !metadataPart || !mediaPart) return jsonError(res, 400, 'A multipart upload has two parts.');
    const metadata = JSON.parse(metadataPart.body.toString('utf8')) as { name?: string; contentType?: string; cacheControl?: string };
    const name = metadata.name ?? url.searchParams.get('name');
    if (!name) return jsonError(res, 400, 'Required: object name.');
    const stored: EmulatedObject = {
      bytes: mediaPart.body,
      contentType: metadata.contentType ?? mediaPart.contentType ?? 'application/octet-stream',
      generation: String(++generation),
      updated: new Date(),
    };
    objects.set(`${bucket}/${name}`, stored);
    return sendJson(res, 200, {
      kind: 'storage#object',
      bucket,
      name,
      generation: stored.generation,
      metageneration: '1',
      contentType: stored.contentType,
      ...(metadata.cacheControl ? { cacheControl: metadata.cacheControl } : {}),
      size: String(stored.bytes.length),
      md5Hash: md5(stored.bytes).toString('base64'),
      updated: stored.updated.toISOString(),
    });
  }

  function handleJsonGet(req: IncomingMessage, res: ServerResponse, bucket: string, name: string, url: URL): void {
    if (!buckets.has(bucket)) return jsonError(res, 404, 'The specified bucket does not exist.');
    const object = objects.get(`${bucket}/${name}`);
    if (!object) return jsonError(res, 404, `No such object: ${bucket}/${name}`);
    if (url.searchParams.get('alt') !== 'media') {
      return sendJson(res, 200, {
        kind: 'storage#object',
        bucket,
        name,
        generation: object.generation,
        metageneration: '1',
        contentType: object.contentType,
        size: String(object.bytes.length),
        md5Hash: md5(object.bytes).toString('base64'),
        etag: Buffer.from(object.generation).toString('base64'),
        updated: object.updated.toISOString(),
      });
    }
    const range = parseRange(headerValue(req.headers.range), object.bytes.length);
    if (range === 'unsatisfiable') return jsonError(res, 416, 'The requested range cannot be satisfied.');
    const slice = range ? object.bytes.subarray(range.start, range.end + 1) : object.bytes;
    res.writeHead(range ? 206 : 200, {
      'Content-Type': object.contentType,
      'Content-Length': String(slice.length),
      ETag: `"${md5(object.bytes).toString('hex')}"`,
      'Last-Modified': object.updated.toUTCString(),
      'x-goog-generation': object.generation,
      'x-goog-stored-content-length': String(object.bytes.length),
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-hash': `md5=${md5(object.bytes).toString('base64')}`,
      ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${object.bytes.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    // Streamed in small chunks, as a real download arrives.
    for (let offset = 0; offset < slice.length; offset += 16 * 1024) res.write(slice.subarray(offset, offset + 16 * 1024));
    res.end();
  }

  async function handleSignBlob(req: IncomingMessage, res: ServerResponse, email: string): Promise<void> {
    state.signBlobCalls += 1;
    const body = await readJson(req);
    const mode = state.signBlobMode;
    if (mode.kind === 'stall') return; // never answers; close() cuts the connection
    if (mode.kind === 'fail') return googleApiError(res, mode.status, mode.status === 403 ? 'PERMISSION_DENIED' : 'UNAVAILABLE');
    if (headerValue(req.headers.authorization) !== `Bearer ${options.accessToken ?? 'emulator-token'}`) {
      return googleApiError(res, 401, 'UNAUTHENTICATED');
    }
    const key = options.signBlobKeys?.get(email);
    if (!key) return googleApiError(res, 404, 'NOT_FOUND');
    const payload64 = (body as { payload?: unknown }).payload;
    const payload = Buffer.from(typeof payload64 === 'string' ? payload64 : '', 'base64');
    const signedBlob = createSign('RSA-SHA256').update(payload).sign(key).toString('base64');
    sendJson(res, 200, { keyId: 'emulator-key', signedBlob });
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    signingEndpoint: `${endpoint}/iam/v1/projects/-/serviceAccounts/`,
    objects,
    get clockOffsetMs() {
      return state.clockOffsetMs;
    },
    set clockOffsetMs(value: number) {
      state.clockOffsetMs = value;
    },
    get signBlobMode() {
      return state.signBlobMode;
    },
    set signBlobMode(value: SignBlobMode) {
      state.signBlobMode = value;
    },
    get signBlobCalls() {
      return state.signBlobCalls;
    },
    set signBlobCalls(value: number) {
      state.signBlobCalls = value;
    },
    bucketCors,
    get bucketMetadataForbidden() {
      return state.bucketMetadataForbidden;
    },
    set bucketMetadataForbidden(value: boolean) {
      state.bucketMetadataForbidden = value;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// V4 signature verification, from Google's description (not from the signing library).

/** What one signed request carries. */
export interface SignedRequest {
  readonly method: string;
  readonly bucket: string;
  /** Decoded object name. */
  readonly objectName: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly publicKeys: ReadonlyMap<string, KeyObject>;
  /** Verification time, ms since the epoch. */
  readonly now: number;
}

export type Verdict =
  | { ok: true; lengthRange: { min: number; max: number } | undefined }
  | { ok: false; status: number; code: string; message: string };

const maxExpiresSeconds = 604_800;

export function verifyV4SignedRequest(request: SignedRequest): Verdict {
  const q = (name: string) => request.query.get(name) ?? undefined;
  const algorithm = q('X-Goog-Algorithm');
  const credential = q('X-Goog-Credential');
  const date = q('X-Goog-Date');
  const expires = q('X-Goog-Expires');
  const signedHeaderList = q('X-Goog-SignedHeaders');
  const signature = q('X-Goog-Signature');
  if (!algorithm || !credential || !date || !expires || !signedHeaderList || !signature) {
    return refuse(400, 'MissingSecurityHeader', 'A V4 query parameter is missing.');
  }
  if (algorithm !== 'GOOG4-RSA-SHA256') return refuse(400, 'InvalidArgument', 'Unsupported X-Goog-Algorithm.');
  // Credential: <email>/<yyyymmdd>/<location>/storage/goog4_request
  const credentialParts = credential.split('/');
  const [email = '', scopeDate = '', location = '', service = '', terminator = ''] = credentialParts;
  const dateMatch = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (credentialParts.length !== 5 || service !== 'storage' || terminator !== 'goog4_request' || !location) {
    return refuse(400, 'AuthorizationQueryParametersError', 'X-Goog-Credential is malformed.');
  }
  if (!dateMatch || scopeDate !== date.slice(0, 8)) return refuse(400, 'AuthorizationQueryParametersError', 'X-Goog-Date is malformed.');
  const expiresSeconds = Number(expires);
  if (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > maxExpiresSeconds) {
    return refuse(400, 'AuthorizationQueryParametersError', 'X-Goog-Expires must be 1 to 604800.');
  }
  const [y, mo, d, h, mi, s] = dateMatch.slice(1).map(Number);
  const signedAt = Date.UTC(y ?? 0, (mo ?? 1) - 1, d, h, mi, s);
  if (request.now < signedAt - 60_000) return refuse(400, 'RequestNotYetValid', 'The request is not yet valid.');
  if (request.now > signedAt + expiresSeconds * 1000) return refuse(400, 'ExpiredToken', 'The provided token has expired.');
  const publicKey = request.publicKeys.get(email);
  if (!publicKey) return refuse(403, 'AccessDenied', 'Unknown service account.');

  // Signed headers: lower-case names joined by ';', sorted; host is mandatory.
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host') || [...signedHeaders].sort().join(';') !== signedHeaderList) {
    return refuse(400, 'AuthorizationQueryParametersError', 'X-Goog-SignedHeaders must be sorted and include host.');
  }
  const canonicalHeaderLines: string[] = [];
  for (const name of signedHeaders) {
    let value = headerValue(request.headers[name]);
    // Clients send `host:port`; the signing library signs the host name alone, which is what a
    // request to GCS's port 443 sends. Compare host names, so the emulator can use any port.
    if (name === 'host' && value !== undefined) value = value.replace(/:\d+$/, '');
    if (value === undefined) return refuse(403, 'SignatureDoesNotMatch', `Signed header ${name} is missing.`);
    canonicalHeaderLines.push(`${name}:${value.trim().replace(/\s+/g, ' ')}\n`);
  }
  const canonicalQuery = [...request.query.entries()]
    .filter(([name]) => name !== 'X-Goog-Signature')
    .map(([name, value]) => [percentEncode(name), percentEncode(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalPath = `/${request.bucket}/${request.objectName.split('/').map(percentEncode).join('/')}`;
  const canonicalRequest = [
    request.method,
    canonicalPath,
    canonicalQuery,
    canonicalHeaderLines.join(''),
    signedHeaderList,
    headerValue(request.headers['x-goog-content-sha256']) ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    'GOOG4-RSA-SHA256',
    date,
    credentialParts.slice(1).join('/'),
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  if (!/^[0-9a-f]+$/.test(signature)) return refuse(403, 'SignatureDoesNotMatch', 'X-Goog-Signature is not hex.');
  const valid = createVerify('RSA-SHA256').update(stringToSign).verify(publicKey, Buffer.from(signature, 'hex'));
  if (!valid) return refuse(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');

  let lengthRange: { min: number; max: number } | undefined;
  if (signedHeaders.includes('x-goog-content-length-range')) {
    const match = /^(\d+),(\d+)$/.exec(headerValue(request.headers['x-goog-content-length-range']) ?? '');
    if (!match) return refuse(400, 'InvalidArgument', 'x-goog-content-length-range is malformed.');
    lengthRange = { min: Number(match[1]), max: Number(match[2]) };
  }
  return { ok: true, lengthRange };
}

/** RFC 3986 percent-encoding: every byte except A-Z a-z 0-9 - . _ ~ (Google's "URI-encoded"). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function refuse(status: number, code: string, message: string): Verdict {
  return { ok: false, status, code, message };
}

// ---------------------------------------------------------------------------------------------

function inRange(length: number, range: { min: number; max: number }): boolean {
  return length >= range.min && length <= range.max;
}

function parseRange(value: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = value ? /^bytes=(\d*)-(\d*)$/.exec(value) : null;
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Math.min(Number(match[2]), size);
    return suffix === 0 ? 'unsatisfiable' : { start: size - suffix, end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return start >= size || end < start ? 'unsatisfiable' : { start, end };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

function md5(bytes: Buffer): Buffer {
  return createHash('md5').update(bytes).digest();
}

/** Reads a body; past `max` bytes it only counts (and drains) what arrives, so the client gets an answer. */
function readBody(req: IncomingMessage, max: number): Promise<{ bytes: Buffer; length: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length <= max) chunks.push(chunk);
    });
    req.on('end', () => resolve({ bytes: Buffer.concat(chunks), length }));
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return {};
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The JSON API's error shape. */
function jsonError(res: ServerResponse, status: number, message: string): void {
  const reason = status === 404 ? 'notFound' : status === 416 ? 'requestedRangeNotSatisfiable' : 'backendError';
  sendJson(res, status, { error: { code: status, message, errors: [{ message, domain: 'global', reason }] } });
}

/** The IAM Credentials API's (google.rpc.Status) error shape. */
function googleApiError(res: ServerResponse, status: number, grpcStatus: string): void {
  sendJson(res, status, { error: { code: status, message: `signBlob: ${grpcStatus}`, status: grpcStatus } });
}

/** The XML API's error shape. The request body is drained first, so the client sees the answer rather than a reset. */
function refuseXml(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml; charset=UTF-8', 'Content-Length': Buffer.byteLength(body), });
  res.end(body);
  req.resume();
}

/** The parts of a `multipart/related` body (RFC 2387): each part's headers and bytes. */
function splitMultipart(body: Buffer, boundary: string): { contentType: string | undefined; body: Buffer }[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { contentType: string | undefined; body: Buffer }[] = [];
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const afterDelimiter = start + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break; // the closing delimiter
    const next = body.indexOf(delimiter, afterDelimiter);
    if (next < 0) break;
    const part = body.subarray(afterDelimiter + 2, next - 2); // drop the CRLF after the delimiter and before the next
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, Math.max(0, headerEnd)).toString('latin1');
    parts.push({ contentType: /^content-type:\s*(.+)$/im.exec(headers)?.[1]?.trim(), body: part.subarray(headerEnd + 4) });
    start = next;
  }
  return parts;
}
