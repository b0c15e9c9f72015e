/**
 * An app's CDN as an image source. Range and validators are forwarded so the CDN answers 206, 304
 * and 416 itself; any status the read path cannot pass on becomes a `CdnFailure` that says why and
 * whether it is the CDN's fault (counted by the breaker) or an answer about the object (a 404 may
 * be a stale negative cache entry for an object that is newer: storage is asked, nothing counted).
 */
import type { Readable } from 'node:stream';
import { CdnRequestError, type CdnClient, type CdnResponse } from './cdn-client.js';
import { cdnTargetUnder, parseCdnBase, type CdnBase } from './cdn-url.js';
import { formatRange, parseContentRange } from './http-semantics.js';
import type { ImageSource, SourceReply, SourceRequest } from './image-source.js';

/** Why a read left the CDN for storage: the `reason` label of `darkroom_cdn_fallbacks_total`. */
export type FallbackReason = 'timeout' | 'error' | 'status_5xx' | 'status_4xx' | 'not_found' | 'circuit_open';

/** A CDN answer or failure that sends the read to storage. */
export class CdnFailure extends Error {
  constructor(
    readonly reason: Exclude<FallbackReason, 'circuit_open'>,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(options.status !== undefined ? `CDN answered ${options.status}` : `CDN ${reason}`, { cause: options.cause });
    this.name = 'CdnFailure';
  }

  /** False for answers about the object (404, other 4xx): the CDN itself is healthy. */
  get countsAgainstCdn(): boolean {
    return this.reason !== 'not_found' && this.reason !== 'status_4xx';
  }
}

export class CdnSource implements ImageSource {
  readonly #base: CdnBase;

  /**
   * @param client the shared pool
   * @param baseUrl the app's `cdn.url`
   * @param timeoutMs time to response headers, in ms (the app's `cdn.timeoutMs`)
   */
  constructor(
    private readonly client: CdnClient,
    baseUrl: string,
    private readonly timeoutMs: number,
  ) {
    this.#base = parseCdnBase(baseUrl);
  }

  async read(request: SourceRequest): Promise<SourceReply> {
    const headers: Record<string, string> = {};
    const { preconditions, range } = request;
    if (request.method === 'GET' && range) {
      headers.range = formatRange(range);
      if (preconditions.ifRange) headers['if-range'] = preconditions.ifRange;
    }
    if (preconditions.ifNoneMatch !== undefined) headers['if-none-match'] = preconditions.ifNoneMatch;
    if (preconditions.ifModifiedSince !== undefined) headers['if-modified-since'] = preconditions.ifModifiedSince;
    const response = await this.#send(request.method, request.objectKey, headers, request.signal);
    const status = response.statusCode;
    if (status === 200 || status === 206) {
      const body = request.method === 'GET' ? response.body : discard(response.body);
      const range206 = status === 206 ? parseContentRange(header(response, 'content-range')) : undefined;
      if (status === 206 && !range206) {
        response.body.destroy();
        throw new CdnFailure('error', { status });
      }
      return { ...replyHeaders(status, response), bodyStart: range206?.start ?? 0, body };
    }
    discard(response.body);
    if (status === 304 || status === 416) return { ...replyHeaders(status, response), contentLength: undefined, bodyStart: 0, body: undefined };
    if (status === 404) throw new CdnFailure('not_found', { status });
    if (status >= 400 && status < 500) throw new CdnFailure('status_4xx', { status });
    if (status >= 500) throw new CdnFailure('status_5xx', { status });
    // 1xx/3xx: a redirect is not followed; the host comes only from config.
    throw new CdnFailure('error', { status });
  }

  async #send(method: 'GET' | 'HEAD', objectKey: string, headers: Record<string, string>, signal: AbortSignal): Promise<CdnResponse> {
    try {
      return await this.client.request(cdnTargetUnder(this.#base, objectKey), { method, headers, timeoutMs: this.timeoutMs, signal });
    } catch (error) {
      if (error instanceof CdnRequestError) throw new CdnFailure(error.kind === 'timeout' ? 'timeout' : 'error', { cause: error });
      throw error;
    }
  }
}

function header(response: CdnResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function replyHeaders(status: SourceReply['status'], response: CdnResponse): Omit<SourceReply, 'bodyStart' | 'body'> {
  const length = header(response, 'content-length');
  const lastModified = header(response, 'last-modified');
  const parsedDate = lastModified ? new Date(lastModified) : undefined;
  return {
    status,
    contentType: header(response, 'content-type'),
    contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
    etag: header(response, 'etag'),
    lastModified: parsedDate && !Number.isNaN(parsedDate.getTime()) ? parsedDate : undefined,
    contentRange: header(response, 'content-range'),
  };
}

/** Reads and drops a small body so that the keep-alive connection can be reused. */
function discard(body: Readable): undefined {
  body.resume();
  body.on('error', () => undefined);
  return undefined;
}
