/**
 * darkroom's own reads and writes of S3 objects (GetObject, HeadObject, and PutObject of a variant
 * it made) as presigned requests over undici, instead of through the SDK's middleware stack.
 *
 * Why: on a variant miss, the storage lookup (a GET that answers 404) and the store of the result
 * (a PUT of some 50 KB) cost 1.4 to 1.7 ms of CPU each through the SDK, and 0.3 to 0.4 ms each as
 * a signed URL sent by undici (measured against the embedded S3, on the bench machine); in a
 * profile of a miss run, the SDK took a fifth of darkroom's JavaScript thread. Storage fallback
 * reads of originals gain the same.
 *
 * Same behaviour as the SDK client it replaces (`createS3Client`): a 2 s connect timeout, one
 * retry of a request that failed on the network or with a 5xx (the SDK's `maxAttempts: 2`), a
 * 15 s idle timeout on the body that does not count time the consumer holds it back, and errors
 * in the SDK's shape (`name` from S3's XML `<Code>`, `$metadata.httpStatusCode`) so that
 * `translateS3Error` maps both paths to the same storage faults, and the SDK's clock-skew
 * correction: when S3's `Date` header is more than 5 minutes from this node's clock, requests are
 * signed on S3's time from then on, and a refused one (403) is sent again once. Without it a node
 * whose clock drifted would see every read refused ("Request has expired"), which the read path
 * reports as a missing image. URLs live one minute; the request is sent at once. When an
 * operation has no template, the methods answer `undefined` and the provider sends the request
 * through the SDK.
 */
import { Agent, type Dispatcher } from 'undici';
import { setTimeout as delay } from 'node:timers/promises';
import { signedHeadersOf, type S3Presigner, type SignInput } from './s3-presigner.js';
import { rangeHeaderOf, type ObjectMetadata, type ObjectReadStream, type PutObjectRequest } from './storage-provider.js';

/** Connection settings, as `createS3Client` gives the SDK's. */
export interface S3ObjectRequestsOptions {
  /** Clock for signing dates, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Longest pause between two body chunks of a read before it is cut, in ms. Default 15 000. */
  readonly bodyIdleTimeoutMs?: number;
  /** Longest wait for response headers once a request is sent, in ms (a backstop: callers pass deadlines). Default 15 000. */
  readonly headersTimeoutMs?: number;
}

/** An S3 error answer, shaped as the SDK's errors are for `translateS3Error`. */
export class S3ResponseError extends Error {
  readonly $metadata: { readonly httpStatusCode: number };

  constructor(code: string, status: number) {
    super(`S3 answered ${status}${code ? ` ${code}` : ''}`);
    // The SDK names an error after S3's code; a HEAD has no body, so only its status is known.
    this.name = code || 'S3ResponseError';
    this.$metadata = { httpStatusCode: status };
  }
}

/** A storage endpoint that does not accept a connection is down (as `createS3Client`). */
const connectTimeoutMs = 2_000;
const defaultIdleTimeoutMs = 15_000;
/** Below the idle time after which S3 and most S3-compatible stores close a connection. */
const keepAliveTimeoutMs = 10_000;
/** Lifetime of each signed URL: it is sent at once, a retry included. */
const urlLifetimeSeconds = 60;
/** Most bytes of an error answer read for its code; S3's are a few hundred. */
const maxErrorBodyBytes = 16 * 1024;
/** Statuses worth a second try, as the SDK's standard retry strategy has them. */
const retryableStatuses = new Set([500, 502, 503, 504]);
/** Pause before retrying a status, jittered up to this (the SDK's base delay is 100 ms). */
const retryDelayMs = 100;
/** A clock this far from S3's is corrected (the SDK's threshold). */
const clockSkewThresholdMs = 5 * 60_000;

type ResponseData = Dispatcher.ResponseData;

export class S3ObjectRequests {
  readonly #agent: Agent;
  readonly #now: () => number;
  /** S3's clock minus this node's, once S3's `Date` header showed them apart; else 0. */
  #clockOffsetMs = 0;

  constructor(
    private readonly presigner: S3Presigner,
    options: S3ObjectRequestsOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#agent = new Agent({
      connections: 256,
      keepAliveTimeout: keepAliveTimeoutMs,
      headersTimeout: options.headersTimeoutMs ?? defaultIdleTimeoutMs,
      // undici's body timeout is an idle timeout that skips time the body is paused by its consumer.
      bodyTimeout: options.bodyIdleTimeoutMs ?? defaultIdleTimeoutMs,
      connect: { timeout: connectTimeoutMs },
    });
  }

  /** GetObject, or `undefined` without a template. Rejects with `S3ResponseError` or the network's error. */
  async get(key: string, options: { range?: { start: number; end?: number } | undefined; signal?: AbortSignal | undefined }): Promise<ObjectReadStream | undefined> {
    const range = rangeHeaderOf(options.range);
    const headers: Record<string, string> = range ? { range } : {};
    const response = await this.#send('get', { key }, { method: 'GET', headers, signal: options.signal });
    if (!response) return undefined;
    const body = response.body;
    // undici's body emits an error when destroyed before its end (by the reader, on purpose);
    // whoever streams it listens for errors itself, so an unobserved one must not crash the process.
    body.on('error', () => undefined);
    return { body, ...metadataOf(response.headers) };
  }

  /** HeadObject, or `undefined` without a template. */
  async head(key: string, options: { signal?: AbortSignal | undefined }): Promise<ObjectMetadata | undefined> {
    const response = await this.#send('head', { key }, { method: 'HEAD', headers: {}, signal: options.signal });
    if (!response) return undefined;
    response.body.resume();
    return metadataOf(response.headers);
  }

  /** PutObject of an object darkroom made (overwriting); `false` without a template. */
  async put(request: PutObjectRequest, options: { signal?: AbortSignal | undefined }): Promise<boolean> {
    const signed = { key: request.key, contentType: request.contentType, contentLength: request.body.length, cacheControl: request.cacheControl };
    const response = await this.#send('store', signed, { method: 'PUT', headers: signedHeadersOf(signed), body: request.body, signal: options.signal });
    if (!response) return false;
    await response.body.dump();
    return true;
  }

  /** S3's clock minus this node's, as S3's answers have shown it (0 until one shows a difference over 5 minutes). */
  get clockOffsetMs(): number {
    return this.#clockOffsetMs;
  }

  /** Closes the pooled connections. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  /**
   * Signs and sends one request, once more after a network failure or a retryable status.
   * Answers only a 2xx; anything else rejects (`undefined`: no template).
   */
  async #send(
    operation: 'get' | 'head' | 'store',
    input: Omit<SignInput, 'expiresInSeconds' | 'signingDate'>,
    init: { method: 'GET' | 'HEAD' | 'PUT'; headers: Record<string, string>; body?: Buffer; signal: AbortSignal | undefined },
  ): Promise<ResponseData | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      const signedWithOffset = this.#clockOffsetMs;
      const signingDate = new Date(this.#now() + signedWithOffset);
      const target = await this.presigner.presignOwn(operation, { ...input, expiresInSeconds: urlLifetimeSeconds, signingDate });
      if (target === undefined) return undefined;
      const last = attempt === 2;
      let response: ResponseData;
      try {
        response = await this.#agent.request({ ...target, method: init.method, headers: init.headers, body: init.body, signal: init.signal });
      } catch (error) {
        // A stale keep-alive connection closed by storage fails like this; the caller's abort does not retry.
        if (last || init.signal?.aborted) throw error;
        continue;
      }
      this.#correctClock(header(response.headers, 'date'));
      if (response.statusCode >= 200 && response.statusCode < 300) return response;
      const failure = new S3ResponseError(await errorCodeOf(response, init.method), response.statusCode);
      // Signed on a clock S3 disagreed with (this answer, or a concurrent one, corrected it since):
      // signed again on S3's time.
      if (!last && response.statusCode === 403 && this.#clockOffsetMs !== signedWithOffset) continue;
      if (last || !retryableStatuses.has(response.statusCode)) throw failure;
      // A busy or failing store is given a moment, as the SDK's backoff does; the caller's abort ends the wait.
      await delay(Math.random() * retryDelayMs, undefined, init.signal ? { signal: init.signal } : undefined);
    }
  }

  /** Takes S3's time from a `Date` header that is too far from this node's. */
  #correctClock(date: string | undefined): void {
    const serverMs = date === undefined ? Number.NaN : Date.parse(date);
    if (Number.isNaN(serverMs)) return;
    const offset = serverMs - this.#now();
    if (Math.abs(offset - this.#clockOffsetMs) > clockSkewThresholdMs) this.#clockOffsetMs = offset;
  }
}

/** S3's error code from the XML body (`<Code>NoSuchKey</Code>`); `''` for a HEAD or a body without one. */
async function errorCodeOf(response: ResponseData, method: string): Promise<string> {
  if (method === 'HEAD') {
    response.body.resume();
    return '';
  }
  let text = '';
  try {
    for await (const chunk of response.body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length >= maxErrorBodyBytes) break;
    }
  } catch {
    // A body cut off: the status alone says what happened.
  } finally {
    response.body.destroy();
  }
  return /<Code>([^<]{1,128})<\/Code>/.exec(text)?.[1] ?? '';
}

function metadataOf(headers: Dispatcher.ResponseData['headers']): ObjectMetadata {
  const lastModified = header(headers, 'last-modified');
  const length = Number(header(headers, 'content-length'));
  return {
    contentType: header(headers, 'content-type'),
    contentLength: Number.isFinite(length) ? length : 0,
    etag: header(headers, 'etag'),
    lastModified: lastModified !== undefined && !Number.isNaN(Date.parse(lastModified)) ? new Date(lastModified) : undefined,
  };
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
