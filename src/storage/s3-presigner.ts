/**
 * Fast presigned PUT URLs for one bucket, byte-identical to `getSignedUrl`'s.
 *
 * `getSignedUrl` runs the client's whole middleware stack (endpoint rules, serialisation, identity)
 * for every URL — 110 to 280 µs of CPU, machine depending, for what is a hash and an HMAC. The
 * request it signs differs between two uploads only in the object key and the Content-Type and
 * Content-Length headers, so we run the SDK's own stack once, with a placeholder key, and keep the
 * request it builds as a template (host, path around the key, query, headers, signing region and
 * service). Each URL is then the template with the key spliced into the path, signed by
 * `SigV4QuerySigner` with the rules and options `getSignedUrl` gives `@smithy/signature-v4`. When a
 * template is prepared, one probe URL is signed both ways and the template is used only if the two
 * agree; the tests compare the result with `getSignedUrl` byte for byte over awkward keys, lengths,
 * expiries, dates and session tokens.
 *
 * Anything the template cannot express (SigV4a multi-region access points, S3 Express sessions, a
 * probe that disagrees) falls back to `getSignedUrl`, and so does a capture that throws (retried
 * after a minute); each fallback is reported through `onFallback` (a log line and a metric).
 *
 * Every URL signs `If-None-Match: *`, so a second PUT to the same key fails with 412 instead of
 * overwriting, and its lifetime is bounded by the signing credentials' own expiry: a URL signed
 * with temporary credentials (IRSA, SSO) stops working when they expire, whatever X-Amz-Expires
 * says, so it never claims more (`presignPut` returns the lifetime it signed).
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
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

/** A signed URL and the lifetime it was signed with (the asked one, or less when the credentials expire sooner). */
export interface PresignedPut {
  readonly url: string;
  readonly expiresInSeconds: number;
}

/** Why a presigner signs through `getSignedUrl`: the `reason` of `darkroom_presign_fallbacks_total`. */
export type PresignFallbackReason = 'unsupported' | 'probe_mismatch' | 'error';

/** Options beyond the client and bucket. */
export interface S3PresignerOptions {
  /** Told once per fallback decision (a capture that throws: once per retry). */
  readonly onFallback?: (reason: PresignFallbackReason, error?: unknown) => void;
  /** Clock for credential reuse and capture retries, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
}

type SignerRequest = Parameters<SignatureV4['presign']>[0];
type Credentials = Awaited<ReturnType<Extract<S3Client['config']['credentials'], (...args: never[]) => unknown>>>;

/** The request the SDK builds for a PutObject, minus what varies per upload. */
interface RequestTemplate {
  /** `scheme://host[:port]` */
  readonly origin: string;
  readonly pathBeforeKey: string;
  readonly pathAfterKey: string;
  readonly signer: SigV4QuerySigner;
}

// Only unreserved characters, so every encoder leaves it untouched and it can be found in the path.
const placeholderKey = 'darkroom-presign-template-key';
const placeholderContentType = 'application/x-darkroom-placeholder';
// Resolved credentials are reused until this long before they expire, and re-read at least this often.
const credentialsRefreshMs = 5 * 60_000;
// A capture that threw is tried again after this long; URLs are signed by getSignedUrl meanwhile.
const captureRetryMs = 60_000;
// What every URL binds besides type and length: no overwrite of an existing object.
const noOverwrite = '*';
// What getSignedUrl declares unsignable, and the headers it is asked to sign all the same.
const signTypeOnly: Set<string> = new Set(['content-type']);
const signTypeAndLength: Set<string> = new Set(['content-type', 'content-length']);
// The probe a template must sign exactly as signature-v4 does before it is used.
const probeInput: PresignPutInput = {
  key: "probe/ünïcödé key!(*)'~.png",
  contentType: 'image/png',
  contentLength: 12_345,
  expiresInSeconds: 900,
  signingDate: new Date('2026-01-02T03:04:05.678Z'),
};

export class S3Presigner {
  #template: Promise<RequestTemplate | undefined> | undefined;
  #captureRetryAt = 0;
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
    const template = await this.#loadTemplate();
    const credentials = await this.#resolveCredentials();
    const expiresInSeconds = boundedLifetime(input, credentials);
    const bounded = { ...input, expiresInSeconds };
    const url = template ? signWithTemplate(template, bounded, credentials) : await this.presignPutWithSdk(bounded);
    return { url, expiresInSeconds };
  }

  /** Whether URLs come from the template (false: every URL goes through `getSignedUrl`). */
  async usesTemplate(): Promise<boolean> {
    return (await this.#loadTemplate()) !== undefined;
  }

  /** The same URL the slow way (exactly `input.expiresInSeconds`); the reference the fast path is tested against. */
  async presignPutWithSdk(input: PresignPutInput): Promise<string> {
    const signableHeaders = new Set(['content-type', 'if-none-match']);
    if (input.contentLength !== undefined) signableHeaders.add('content-length');
    return getSignedUrl(
      this.client,
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: input.key,
        ContentType: input.contentType,
        ContentLength: input.contentLength,
        IfNoneMatch: noOverwrite,
      }),
      { expiresIn: input.expiresInSeconds, signableHeaders, signingDate: input.signingDate },
    );
  }

  #loadTemplate(): Promise<RequestTemplate | undefined> {
    if (this.#template) return this.#template;
    // A capture that threw (credentials not yet available, an SDK change) is retried later; until
    // then every URL comes from getSignedUrl, which fails on its own if signing cannot work at all.
    if (this.#now() < this.#captureRetryAt) return Promise.resolve(undefined);
    this.#template = this.#captureTemplate().then(
      (captured) => {
        if (typeof captured === 'string') {
          this.options.onFallback?.(captured);
          return undefined;
        }
        return captured;
      },
      (error: unknown) => {
        this.#template = undefined;
        this.#captureRetryAt = this.#now() + captureRetryMs;
        this.options.onFallback?.('error', error);
        return undefined;
      },
    );
    return this.#template;
  }

  /** Runs the SDK's PutObject stack once and keeps the request it would sign, or says why it cannot. */
  async #captureTemplate(): Promise<RequestTemplate | Exclude<PresignFallbackReason, 'error'>> {
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
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: placeholderKey,
      ContentType: placeholderContentType,
      ContentLength: 1,
      IfNoneMatch: noOverwrite,
    });
    const handler = command.resolveMiddleware(stack, this.client.config, {});
    await handler({ input: command.input });
    if (!captured || captured.express || (captured.scheme !== undefined && captured.scheme !== 'sigv4')) return 'unsupported';
    const { request } = captured;
    const [before, after, ...more] = request.path.split(placeholderKey);
    if (before === undefined || after === undefined || more.length > 0) return 'unsupported';

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      const lower = name.toLowerCase();
      // getSignedUrl drops the per-invocation headers; the per-upload ones are set on each call.
      if (['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent', 'content-type', 'content-length'].includes(lower)) continue;
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
    const shape: RequestShape = { method: 'PUT', query, headers, region, service, unsignable: signTypeOnly };
    const template: RequestTemplate = {
      origin: origin(request),
      pathBeforeKey: before,
      pathAfterKey: after,
      signer: new SigV4QuerySigner(shape),
    };
    const credentials = await this.#resolveCredentials();
    const reference = await signWithSignatureV4(request, shape, template, probeInput, credentials, config.sha256);
    return signWithTemplate(template, probeInput, credentials) === reference ? template : 'probe_mismatch';
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
function boundedLifetime(input: PresignPutInput, credentials: Credentials): number {
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

/** What differs between two uploads: the path with the key, the type and length headers. */
function perUpload(template: RequestTemplate, input: PresignPutInput) {
  const headers: Record<string, string> = { 'content-type': input.contentType };
  if (input.contentLength !== undefined) headers['content-length'] = String(input.contentLength);
  return {
    path: template.pathBeforeKey + encodeKeyPath(input.key) + template.pathAfterKey,
    headers,
    signable: input.contentLength === undefined ? signTypeOnly : signTypeAndLength,
  };
}

function signWithTemplate(template: RequestTemplate, input: PresignPutInput, credentials: SigningCredentials): string {
  const upload = perUpload(template, input);
  const query = template.signer.sign({ ...upload, expiresInSeconds: input.expiresInSeconds, signingDate: input.signingDate, credentials });
  return `${template.origin}${upload.path}?${query}`;
}

/** The probe's reference: the captured request signed by signature-v4 with getSignedUrl's options. */
async function signWithSignatureV4(
  request: SignerRequest,
  shape: RequestShape,
  template: RequestTemplate,
  input: PresignPutInput,
  credentials: Credentials,
  sha256: S3Client['config']['sha256'],
): Promise<string> {
  const signer = new SignatureV4({ service: shape.service, region: shape.region, credentials, sha256, uriEscapePath: false, applyChecksum: false });
  const upload = perUpload(template, input);
  const signed = await signer.presign(
    { ...request, path: upload.path, query: { ...shape.query }, headers: { ...shape.headers, ...upload.headers } },
    {
      expiresIn: input.expiresInSeconds,
      signingDate: input.signingDate,
      signableHeaders: upload.signable,
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
