/**
 * Fast presigned URLs for one bucket: browsers' uploads, byte-identical to `getSignedUrl`'s, and
 * darkroom's own reads and writes of objects.
 *
 * `getSignedUrl` runs the client's whole middleware stack (endpoint rules, serialisation, identity)
 * for every URL — 110 to 280 µs of CPU, machine depending, for what is a hash and an HMAC. The
 * request it signs differs between two uploads only in the object key and the Content-Type and
 * Content-Length headers, so we run the SDK's own stack once per operation, with a placeholder
 * key, and keep the request it builds as a template (host, path around the key, query, headers,
 * signing region and service). Each URL is then the template with the key spliced into the path,
 * signed by `SigV4QuerySigner` with the rules and options `getSignedUrl` gives
 * `@smithy/signature-v4`. When a template is prepared, one probe URL is signed both ways and the
 * template is used only if the two agree; the tests compare the result with `getSignedUrl` byte
 * for byte over awkward keys, lengths, expiries, dates and session tokens.
 *
 * The operations:
 * - `upload`: a client's PutObject. Every URL signs `If-None-Match: *`, so a second PUT to the
 *   same key fails with 412 instead of overwriting, plus the Content-Type and, when given, the
 *   Content-Length. Anything the template cannot express (SigV4a multi-region access points, S3
 *   Express sessions, a probe that disagrees) falls back to `getSignedUrl`, and so does a capture
 *   that throws (retried after a minute); each fallback is reported through `onFallback` (a log
 *   line and a metric).
 * - `get`, `head`, `store`: darkroom's own GetObject, HeadObject and PutObject (a variant it made;
 *   Content-Type, Content-Length and Cache-Control signed), which `S3ObjectRequests` sends over
 *   undici. Sent through the SDK, each costs 1.4 to 1.7 ms of CPU on the bench machine, against
 *   0.3 to 0.4 ms as a signed URL (measured against the embedded S3). Without a template for one
 *   of them, `presignOwn` answers `undefined` (reported the same way) and the provider sends
 *   that request through the SDK.
 *
 * A URL's lifetime is bounded by the signing credentials' own expiry: a URL signed with temporary
 * credentials (IRSA, SSO) stops working when they expire, whatever X-Amz-Expires says, so it never
 * claims more (`presignPut` returns the lifetime it signed).
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { escapeUri, SigV4QuerySigner, type RequestShape, type SigningCredentials } from './sigv4-query-signer.js';

/** One PUT to sign. */
export interface PresignPutInput {
  /** Object key, prefix included (not yet URI-encoded). */
  readonly key: string;
  readonly contentType: string;
  /** Signed as the exact `Content-Length` when set. */
  readonly contentLength: number | undefined;
  /** URL lifetime in seconds (at most 7 days, SigV4's limit). */
  readonly expiresInSeconds: number;
  readonly signingDate: Date;
}

/** darkroom's own requests for objects, each signed from a template of its own. */
export type OwnOperation = 'get' | 'head' | 'store';
type Operation = 'upload' | OwnOperation;

/** One request of any operation to sign; the headers given are signed (and must then be sent as given). */
export interface SignInput {
  /** Object key, prefix included (not yet URI-encoded). */
  readonly key: string;
  readonly contentType?: string | undefined;
  readonly contentLength?: number | undefined;
  readonly cacheControl?: string | undefined;
  /** URL lifetime in seconds (at most 7 days, SigV4's limit). */
  readonly expiresInSeconds: number;
  readonly signingDate: Date;
}

/** A signed request's URL in the two parts an HTTP client is given: `scheme://host[:port]`, and the path with its signed query. */
export interface SignedRequestTarget {
  readonly origin: string;
  readonly path: string;
}

/** A signed URL and the lifetime it was signed with (the asked one, or less when the credentials expire sooner). */
export interface PresignedPut {
  readonly url: string;
  readonly expiresInSeconds: number;
}

/** Why a presigner signs through `getSignedUrl` (or sends through the SDK): the `reason` of `darkroom_presign_fallbacks_total`. */
export type PresignFallbackReason = 'unsupported' | 'probe_mismatch' | 'error';

/** Options beyond the client and bucket. */
export interface S3PresignerOptions {
  /** Told once per fallback decision (a capture that throws: once per retry), for each operation. */
  readonly onFallback?: (reason: PresignFallbackReason, error?: unknown) => void;
  /** Clock for credential reuse and capture retries, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
}

type SignerRequest = Parameters<SignatureV4['presign']>[0];
type Credentials = Awaited<ReturnType<Extract<S3Client['config']['credentials'], (...args: never[]) => unknown>>>;

/** The request the SDK builds for one operation, minus what varies per URL. */
interface RequestTemplate {
  /** `scheme://host[:port]` */
  readonly origin: string;
  readonly pathBeforeKey: string;
  readonly pathAfterKey: string;
  readonly signer: SigV4QuerySigner;
}

/** A template being prepared or prepared (undefined: this operation signs the slow way). */
interface TemplateSlot {
  template: Promise<RequestTemplate | undefined> | undefined;
  captureRetryAt: number;
}

// Only unreserved characters, so every encoder leaves it untouched and it can be found in the path.
const placeholderKey = 'darkroom-presign-template-key';
const placeholderContentType = 'application/x-darkroom-placeholder';
// Resolved credentials are reused until this long before they expire, and re-read at least this often.
const credentialsRefreshMs = 5 * 60_000;
// A capture that threw is tried again after this long; URLs are signed the slow way meanwhile.
const captureRetryMs = 60_000;
// What every upload URL binds besides type and length: no overwrite of an existing object.
const noOverwrite = '*';
// What getSignedUrl declares unsignable; a per-URL header is signed all the same (`signable`).
const signTypeOnly: Set<string> = new Set(['content-type']);
// Per-URL headers, as the SDK would send them: never part of a template.
const perUrlHeaders = new Set(['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent', 'content-type', 'content-length', 'cache-control']);

/** The SDK command an operation's template is captured from (and an upload's fallback signs). */
function commandFor(operation: Operation, bucket: string, input: SignInput) {
  const common = { Bucket: bucket, Key: input.key };
  switch (operation) {
    case 'upload':
      return new PutObjectCommand({ ...common, ContentType: input.contentType, ContentLength: input.contentLength, IfNoneMatch: noOverwrite });
    case 'store':
      return new PutObjectCommand({ ...common, ContentType: input.contentType, ContentLength: input.contentLength, CacheControl: input.cacheControl });
    case 'get':
      return new GetObjectCommand(common);
    case 'head':
      return new HeadObjectCommand(common);
  }
}

/**
 * The per-URL headers a request signs, by lower-case name, as the request must then send them
 * (the type, length and caching `input` gives).
 */
export function signedHeadersOf(input: Pick<SignInput, 'contentType' | 'contentLength' | 'cacheControl'>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (input.contentType !== undefined) headers['content-type'] = input.contentType;
  if (input.contentLength !== undefined) headers['content-length'] = String(input.contentLength);
  if (input.cacheControl !== undefined) headers['cache-control'] = input.cacheControl;
  return headers;
}

/** The headers a `getSignedUrl` of `operation` is told to sign. */
function signableFor(operation: Operation, input: SignInput): Set<string> {
  return new Set([...(operation === 'upload' ? ['if-none-match'] : []), ...Object.keys(signedHeadersOf(input))]);
}

// The probe each template must sign exactly as signature-v4 does before it is used. Its date is
// fixed on purpose: the probe compares two signers, it is never sent, so no clock is involved.
const probeSigning = { expiresInSeconds: 900, signingDate: new Date('2026-01-02T03:04:05.678Z') };
const probeKey = "probe/ünïcödé key!(*)'~.png";
const probeInputs: Record<Operation, SignInput> = {
  upload: { key: probeKey, contentType: 'image/png', contentLength: 12_345, ...probeSigning },
  store: { key: probeKey, contentType: 'image/webp', contentLength: 54_321, cacheControl: 'public, max-age=31536000, immutable', ...probeSigning },
  get: { key: probeKey, ...probeSigning },
  head: { key: probeKey, ...probeSigning },
};

export class S3Presigner {
  readonly #slots = new Map<Operation, TemplateSlot>();
  #credentials: { value: Credentials; refreshAt: number } | undefined;
  #credentialsInFlight: Promise<Credentials> | undefined;
  readonly #now: () => number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly options: S3PresignerOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
  }

  /** A presigned PUT URL for `input`, its lifetime bounded by the credentials' expiry. */
  async presignPut(input: PresignPutInput): Promise<PresignedPut> {
    const template = await this.#loadTemplate('upload');
    const credentials = await this.#resolveCredentials();
    const expiresInSeconds = boundedLifetime(input, credentials);
    const bounded = { ...input, expiresInSeconds };
    const url = template ? signWithTemplate(template, bounded, credentials) : await this.presignPutWithSdk(bounded);
    return { url, expiresInSeconds };
  }

  /**
   * A URL for one of darkroom's own requests, signed from its template, with the headers in
   * `input` signed; `undefined` when that operation has no template (send it through the SDK).
   */
  async presignOwn(operation: OwnOperation, input: SignInput): Promise<SignedRequestTarget | undefined> {
    const template = await this.#loadTemplate(operation);
    if (!template) return undefined;
    const credentials = await this.#resolveCredentials();
    return signedTarget(template, { ...input, expiresInSeconds: boundedLifetime(input, credentials) }, credentials);
  }

  /** Whether URLs of `operation` come from its template (false: uploads go through `getSignedUrl`, the rest through the SDK). */
  async usesTemplate(operation: Operation = 'upload'): Promise<boolean> {
    return (await this.#loadTemplate(operation)) !== undefined;
  }

  /** The same upload URL the slow way (exactly `input.expiresInSeconds`); the reference the fast path is tested against. */
  presignPutWithSdk(input: PresignPutInput): Promise<string> {
    return this.presignWithSdk('upload', input);
  }

  /** `getSignedUrl`'s URL for any operation, signing the headers `input` gives: the reference of the tests. */
  async presignWithSdk(operation: Operation, input: SignInput): Promise<string> {
    return getSignedUrl(this.client, commandFor(operation, this.bucket, input), {
      expiresIn: input.expiresInSeconds,
      signableHeaders: signableFor(operation, input),
      signingDate: input.signingDate,
    });
  }

  #loadTemplate(operation: Operation): Promise<RequestTemplate | undefined> {
    let slot = this.#slots.get(operation);
    if (!slot) {
      slot = { template: undefined, captureRetryAt: 0 };
      this.#slots.set(operation, slot);
    }
    if (slot.template) return slot.template;
    // A capture that threw (credentials not yet available, an SDK change) is retried later; until
    // then URLs are signed the slow way, which fails on its own if signing cannot work at all.
    if (this.#now() < slot.captureRetryAt) return Promise.resolve(undefined);
    const current = slot;
    current.template = this.#captureTemplate(operation).then(
      (captured) => {
        if (typeof captured === 'string') {
          this.options.onFallback?.(captured);
          return undefined;
        }
        return captured;
      },
      (error: unknown) => {
        current.template = undefined;
        current.captureRetryAt = this.#now() + captureRetryMs;
        this.options.onFallback?.('error', error);
        return undefined;
      },
    );
    return current.template;
  }

  /** Runs the SDK's stack for `operation` once and keeps the request it would sign, or says why it cannot. */
  async #captureTemplate(operation: Operation): Promise<RequestTemplate | Exclude<PresignFallbackReason, 'error'>> {
    let captured: { request: SignerRequest; region?: string; service?: string; scheme?: string; express: boolean } | undefined;
    const stack = this.client.middlewareStack.clone();
    const intercept = (_next: unknown, context: Record<string, unknown>) => async (args: { request: SignerRequest }) => {
        const schemes = context.authSchemes as { name?: string }[] | undefined;
        captured = {
          request: args.request,
          region: context.signing_region as string | undefined,
          service: context.signing_service as string | undefined,
          scheme: schemes?.[0]?.name,
          express: context.s3ExpressIdentity !== undefined,
        };
        return { response: {}, output: { $metadata: {} } };
      };
    // Where getSignedUrl intercepts too: after serialisation, endpoint and identity, before signing.
    stack.addRelativeTo(intercept as never, {
      name: 'darkroomPresignTemplate',
      relation: 'before',
      toMiddleware: 'awsAuthMiddleware',
      override: true,
    });
    const command = commandFor(operation, this.bucket, { key: placeholderKey, contentType: placeholderContentType, contentLength: 1, ...probeSigning });
    const handler = (command.resolveMiddleware as (...args: unknown[]) => (args: { input: unknown }) => Promise<unknown>)(stack, this.client.config, {});
    await handler({ input: command.input });
    if (!captured || captured.express || (captured.scheme !== undefined && captured.scheme !== 'sigv4')) return 'unsupported';
    const { request } = captured;
    const [before, after, ...more] = request.path.split(placeholderKey);
    if (before === undefined || after === undefined || more.length > 0) return 'unsupported';

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      // getSignedUrl drops the per-invocation headers; the per-URL ones are set on each call.
      if (perUrlHeaders.has(name.toLowerCase())) continue;
      headers[name] = value;
    }
    // As the SDK's S3RequestPresigner prepares every request it signs.
    headers['X-Amz-Content-Sha256'] = 'UNSIGNED-PAYLOAD';
    const host = `${request.hostname}${request.port != null ? `:${request.port}` : ''}`;
    if (!headers.host || (headers.host === request.hostname && request.port != null)) headers.host = host;

    const query: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (typeof value !== 'string') return 'unsupported';
      query[name] = value;
    }
    const config = this.client.config;
    const region = captured.region ?? (await config.region());
    const service = captured.service ?? 's3';
    const shape: RequestShape = { method: request.method, query, headers, region, service, unsignable: signTypeOnly };
    const template: RequestTemplate = {
      origin: origin(request),
      pathBeforeKey: before,
      pathAfterKey: after,
      signer: new SigV4QuerySigner(shape),
    };
    const credentials = await this.#resolveCredentials();
    const probe = probeInputs[operation];
    const reference = await signWithSignatureV4(request, shape, template, probe, credentials, config.sha256);
    return signWithTemplate(template, probe, credentials) === reference ? template : 'probe_mismatch';
  }

  /** The client's credentials, cached until shortly before they expire. */
  async #resolveCredentials(): Promise<Credentials> {
    const cached = this.#credentials;
    if (cached && this.#now() < cached.refreshAt) return cached.value;
    this.#credentialsInFlight ??= (async () => {
      try {
        const provider = this.client.config.credentials as () => Promise<Credentials>;
        const value = await provider();
        const expiresAt = value.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
        this.#credentials = { value, refreshAt: Math.min(expiresAt - credentialsRefreshMs, this.#now() + credentialsRefreshMs) };
        return value;
      } finally {
        this.#credentialsInFlight = undefined;
      }
    })();
    return this.#credentialsInFlight;
  }
}

/**
 * The lifetime to sign: the asked one, or the whole seconds from the signing date to the
 * credentials' expiry when that comes first (S3 refuses a request signed with expired temporary
 * credentials). Credentials are refreshed well before they expire, so this stays above minutes.
 */
function boundedLifetime(input: SignInput, credentials: Credentials): number {
  const expiration = credentials.expiration?.getTime();
  if (expiration === undefined) return input.expiresInSeconds;
  const remaining = Math.floor((expiration - input.signingDate.getTime()) / 1000);
  if (remaining < 1) throw new Error('The signing credentials have expired');
  return Math.min(input.expiresInSeconds, remaining);
}

/** An S3 key in a path: each segment escaped, the slashes kept (the `{Key+}` greedy label). */
function encodeKeyPath(key: string): string {
  return key.split('/').map(escapeUri).join('/');
}

/** What differs between two URLs of one operation: the path with the key, the signed per-URL headers. */
function perUrl(template: RequestTemplate, input: SignInput) {
  const headers = signedHeadersOf(input);
  return {
    path: template.pathBeforeKey + encodeKeyPath(input.key) + template.pathAfterKey,
    headers,
    signable: new Set(Object.keys(headers)),
  };
}

function signedTarget(template: RequestTemplate, input: SignInput, credentials: SigningCredentials): SignedRequestTarget {
  const request = perUrl(template, input);
  const query = template.signer.sign({ ...request, expiresInSeconds: input.expiresInSeconds, signingDate: input.signingDate, credentials });
  return { origin: template.origin, path: `${request.path}?${query}` };
}

function signWithTemplate(template: RequestTemplate, input: SignInput, credentials: SigningCredentials): string {
  const { origin, path } = signedTarget(template, input, credentials);
  return origin + path;
}

/** The probe's reference: the captured request signed by signature-v4 with getSignedUrl's options. */
async function signWithSignatureV4(
  request: SignerRequest,
  shape: RequestShape,
  template: RequestTemplate,
  input: SignInput,
  credentials: Credentials,
  sha256: S3Client['config']['sha256'],
): Promise<string> {
  const signer = new SignatureV4({ service: shape.service, region: shape.region, credentials, sha256, uriEscapePath: false, applyChecksum: false });
  const perRequest = perUrl(template, input);
  const signed = await signer.presign(
    { ...request, path: perRequest.path, query: { ...shape.query }, headers: { ...shape.headers, ...perRequest.headers } },
    {
      expiresIn: input.expiresInSeconds,
      signingDate: input.signingDate,
      signableHeaders: perRequest.signable,
      unsignableHeaders: shape.unsignable as Set<string>,
      unhoistableHeaders: new Set(),
      signingRegion: shape.region,
      signingService: shape.service,
    },
  );
  return formatUrl({ ...signed, query: signed.query as Record<string, string> });
}

/** A signed request as a URL, in the SDK's form: query keys sorted, keys and values escaped. */
function formatUrl(request: { protocol: string; hostname: string; port?: number | undefined; path: string; query: Readonly<Record<string, string | string[] | null>> }): string {
  const params = request.query;
  const query = Object.keys(params)
    .sort()
    .map((name) => {
      const value = params[name];
      return typeof value === 'string' ? `${escapeUri(name)}=${escapeUri(value)}` : escapeUri(name);
    })
    .join('&');
  return `${origin(request)}${request.path}${query ? `?${query}` : ''}`;
}

/** `scheme://host[:port]` of a request. */
function origin(request: { protocol: string; hostname: string; port?: number | undefined }): string {
  const protocol = request.protocol.endsWith(':') ? request.protocol : `${request.protocol}:`;
  return `${protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}`;
}
