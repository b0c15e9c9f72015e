/**
 * Fast presigned PUT URLs for one bucket, byte-identical to `getSignedUrl`'s.
 *
 * `getSignedUrl` runs the client's whole middleware stack (endpoint rules, serialisation, identity)
 * for every URL — 140 to 280 µs of CPU, machine depending, for what is a handful of HMACs. The
 * request it signs differs between two uploads only in the object key and the Content-Type and
 * Content-Length headers, so we run the SDK's own stack once, with a placeholder key, and keep the
 * request it builds as a template (host, path around the key, query, headers, signing region and
 * service). Each URL is then the template with the key spliced into the path, signed by
 * `@smithy/signature-v4` — the signer the SDK uses underneath — with the same options
 * `getSignedUrl` passes it. A test compares the two byte for byte over awkward keys, lengths,
 * expiries, dates and session tokens.
 *
 * Anything the template cannot express (SigV4a multi-region access points, S3 Express sessions)
 * falls back to `getSignedUrl`.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';

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

type SignerRequest = Parameters<SignatureV4['presign']>[0];
type Credentials = Awaited<ReturnType<Extract<S3Client['config']['credentials'], (...args: never[]) => unknown>>>;

/** The request the SDK builds for a PutObject, minus what varies per upload. */
interface RequestTemplate {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: number | undefined;
  readonly pathBeforeKey: string;
  readonly pathAfterKey: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly signer: SignatureV4;
  readonly signingRegion: string;
  readonly signingService: string;
}

// Only unreserved characters, so every encoder leaves it untouched and it can be found in the path.
const placeholderKey = 'darkroom-presign-template-key';
const placeholderContentType = 'application/x-darkroom-placeholder';
// Resolved credentials are reused until this long before they expire, and re-read at least this often.
const credentialsRefreshMs = 5 * 60_000;
// The signer's options that do not vary per upload (it reads these sets, never changes them).
const signTypeOnly: Set<string> = new Set(['content-type']);
const signTypeAndLength: Set<string> = new Set(['content-type', 'content-length']);
const noHeaders: Set<string> = new Set();

export class S3Presigner {
  #template: Promise<RequestTemplate | undefined> | undefined;
  #credentials: { value: Credentials; refreshAt: number } | undefined;
  #credentialsInFlight: Promise<Credentials> | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  /** A presigned PUT URL for `input`. */
  async presignPut(input: PresignPutInput): Promise<string> {
    const template = await this.#loadTemplate();
    if (!template) return this.presignPutWithSdk(input);
    const headers: Record<string, string> = { ...template.headers, 'content-type': input.contentType };
    if (input.contentLength !== undefined) headers['content-length'] = String(input.contentLength);
    const request: SignerRequest = {
      method: 'PUT',
      protocol: template.protocol,
      hostname: template.hostname,
      port: template.port,
      path: template.pathBeforeKey + encodeKeyPath(input.key) + template.pathAfterKey,
      // The signer clones the request before adding its parameters: the template's query stays as it is.
      query: template.query,
      headers,
    };
    const signed = await template.signer.presign(request, {
      expiresIn: input.expiresInSeconds,
      signingDate: input.signingDate,
      signableHeaders: input.contentLength === undefined ? signTypeOnly : signTypeAndLength,
      // What `getSignedUrl` passes; `signableHeaders` wins over it for content-type.
      unsignableHeaders: signTypeOnly,
      unhoistableHeaders: noHeaders,
      signingRegion: template.signingRegion,
      signingService: template.signingService,
    });
    return formatUrl(signed);
  }

  /** Whether URLs come from the template (false: every URL goes through `getSignedUrl`). */
  async usesTemplate(): Promise<boolean> {
    return (await this.#loadTemplate()) !== undefined;
  }

  /** The same URL the slow way; the reference the fast path is tested against. */
  async presignPutWithSdk(input: PresignPutInput): Promise<string> {
    const signableHeaders = new Set(['content-type']);
    if (input.contentLength !== undefined) signableHeaders.add('content-length');
    return getSignedUrl(
      this.client,
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: input.key,
        ContentType: input.contentType,
        ContentLength: input.contentLength,
      }),
      { expiresIn: input.expiresInSeconds, signableHeaders, signingDate: input.signingDate },
    );
  }

  #loadTemplate(): Promise<RequestTemplate | undefined> {
    // A failed capture (credentials not yet available, say) is not cached: the next call retries.
    this.#template ??= this.#captureTemplate().catch((error: unknown) => {
      this.#template = undefined;
      throw error;
    });
    return this.#template;
  }

  /** Runs the SDK's PutObject stack once and keeps the request it would sign. */
  async #captureTemplate(): Promise<RequestTemplate | undefined> {
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
    });
    const handler = command.resolveMiddleware(stack, this.client.config, {});
    await handler({ input: command.input });
    if (!captured || captured.express || (captured.scheme !== undefined && captured.scheme !== 'sigv4')) return undefined;
    const { request } = captured;
    const [before, after, ...more] = request.path.split(placeholderKey);
    if (before === undefined || after === undefined || more.length > 0) return undefined;

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
      if (typeof value !== 'string') return undefined;
      query[name] = value;
    }
    const config = this.client.config;
    const region = captured.region ?? (await config.region());
    const service = captured.service ?? 's3';
    return {
      protocol: request.protocol,
      hostname: request.hostname,
      port: request.port,
      pathBeforeKey: before,
      pathAfterKey: after,
      query,
      headers,
      signer: new SignatureV4({
        service,
        region,
        credentials: () => this.#resolveCredentials(),
        sha256: config.sha256,
        uriEscapePath: false,
        applyChecksum: false,
      }),
      signingRegion: region,
      signingService: service,
    };
  }

  /** The client's credentials, cached until shortly before they expire. */
  async #resolveCredentials(): Promise<Credentials> {
    const cached = this.#credentials;
    if (cached && Date.now() < cached.refreshAt) return cached.value;
    this.#credentialsInFlight ??= (async () => {
      try {
        const provider = this.client.config.credentials as () => Promise<Credentials>;
        const value = await provider();
        const expiresAt = value.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
        this.#credentials = { value, refreshAt: Math.min(expiresAt - credentialsRefreshMs, Date.now() + credentialsRefreshMs) };
        return value;
      } finally {
        this.#credentialsInFlight = undefined;
      }
    })();
    return this.#credentialsInFlight;
  }
}

/** RFC 3986 encoding as the AWS SDK applies it: encodeURIComponent plus `!'()*`. */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An S3 key in a path: each segment escaped, the slashes kept (the `{Key+}` greedy label). */
function encodeKeyPath(key: string): string {
  return key.split('/').map(escapeUri).join('/');
}

/** A signed request as a URL, in the SDK's form: query keys sorted, keys and values escaped. */
function formatUrl(request: SignerRequest): string {
  const params = request.query ?? {};
  const query = Object.keys(params)
    .sort()
    .map((name) => {
      const value = params[name];
      return typeof value === 'string' ? `${escapeUri(name)}=${escapeUri(value)}` : escapeUri(name);
    })
    .join('&');
  const protocol = request.protocol.endsWith(':') ? request.protocol : `${request.protocol}:`;
  const port = request.port ? `:${request.port}` : '';
  return `${protocol}//${request.hostname}${port}${request.path}${query ? `?${query}` : ''}`;
}
