/**
 * Reads of GCS objects (metadata and media) over the JSON API, on an undici pool of our own.
 *
 * Why not `@google-cloud/storage` for reads: `file.getMetadata()` takes no AbortSignal, and
 * `createReadStream()` cannot be cancelled before its response arrives (destroying the stream it
 * returns leaves the request running until the library's timeout). A GCS that accepts the
 * connection and never answers would hold HEAD, conditional and range reads with no deadline and
 * keep them after the client left. Here every request takes the caller's signal, and aborting it
 * closes the socket, before or after the headers. Same endpoints, same auth as the library
 * (`authClient.getRequestHeaders`), none through an `http:` endpoint (the emulator convention the
 * library follows too).
 */
import type { GoogleAuth } from 'google-auth-library';
import type { Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';

/** Where and as whom to read. */
export interface GcsObjectReaderOptions {
  /** JSON API base, e.g. `https://storage.googleapis.com` (no trailing slash). */
  readonly apiEndpoint: string;
  readonly bucket: string;
  /** Signs requests with the identity's token; undefined sends them without credentials. */
  readonly auth: Pick<GoogleAuth, 'getRequestHeaders'> | undefined;
  /** Longest pause between two body chunks before the download is cut, in ms. Default 15 000. */
  readonly bodyIdleTimeoutMs?: number;
}

/** A JSON API answer whose headers arrived: `body` must be consumed or destroyed. */
export interface GcsAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Readable;
}

/** Error bodies and metadata are small: anything longer is cut, never buffered whole. */
const maxJsonBytes = 64 * 1024;

export class GcsObjectReader {
  readonly #agent: Agent;

  constructor(private readonly options: GcsObjectReaderOptions) {
    this.#agent = new Agent({
      connections: 256,
      keepAliveTimeout: 30_000,
      bodyTimeout: options.bodyIdleTimeoutMs ?? 15_000,
      // The caller's deadline bounds the wait for headers; these are backstops only.
      headersTimeout: 60_000,
      connect: { timeout: 10_000 },
    });
  }

  /** `GET .../o/{key}` (metadata, JSON) or `?alt=media` (the bytes), with an optional `Range`. */
  async request(key: string, init: { media: boolean; range?: string; signal: AbortSignal | undefined }): Promise<GcsAnswer> {
    const base = new URL(this.options.apiEndpoint);
    const path = `${base.pathname.replace(/\/+$/, '')}/storage/v1/b/${encodeURIComponent(this.options.bucket)}/o/${encodeURIComponent(key)}${init.media ? '?alt=media' : ''}`;
    const headers: Record<string, string> = init.media ? { 'accept-encoding': 'identity' } : { accept: 'application/json' };
    if (init.range) headers.range = init.range;
    if (this.options.auth) Object.assign(headers, await abortable(authHeaders(this.options.auth, `${base.origin}${path}`), init.signal));
    const response: Dispatcher.ResponseData = await this.#agent.request({
      origin: base.origin,
      path,
      method: 'GET',
      headers,
      ...(init.signal ? { signal: init.signal } : {}),
    });
    // An unobserved error of a body destroyed on purpose must not crash the process.
    response.body.on('error', () => undefined);
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  /** Closes the pool's sockets. */
  close(): void {
    this.#agent.destroy().catch(() => undefined);
  }
}

/** Reads a small JSON body (metadata, an error), at most 64 KiB. */
export async function readJson(body: Readable): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxJsonBytes) {
      body.destroy();
      throw new Error('GCS answered with an oversized JSON body');
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as unknown) : undefined;
}

async function authHeaders(auth: Pick<GoogleAuth, 'getRequestHeaders'>, url: string): Promise<Record<string, string>> {
  const headers = await auth.getRequestHeaders(url);
  const record: Record<string, string> = {};
  headers.forEach((value, name) => {
    record[name] = value;
  });
  return record;
}

/** `work`, or the signal's reason when it fires first (token fetches take no signal). */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  signal.throwIfAborted();
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
