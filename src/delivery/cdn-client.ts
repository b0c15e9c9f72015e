/**
 * The HTTP client darkroom reads CDNs with: one undici `Agent` (a keep-alive connection pool per
 * CDN origin) shared by every app, and a per-request deadline on the response headers that really
 * cancels the request (the socket is destroyed, not left to finish in the background: opossum's
 * timeout alone would not stop it, opossum#673). Redirects are never followed: undici follows
 * them only through its redirect interceptor, which is not composed here, so a 3xx comes back as
 * a status (and the read path counts it as a CDN failure).
 */
import { Agent, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { startDeadline } from './deadline.js';
import type { CdnTarget } from './cdn-url.js';

/** Pool settings. */
export interface CdnClientOptions {
  /** Most connections kept per CDN origin. Default 256. */
  readonly connectionsPerOrigin?: number;
  /** How long an idle keep-alive connection is kept, in ms. Default 30 000 (below CloudFront's 60 s idle timeout). */
  readonly keepAliveTimeoutMs?: number;
  /** Longest pause between two body chunks before the stream is cut, in ms. Default 15 000. */
  readonly bodyIdleTimeoutMs?: number;
}

/** A CDN response whose headers arrived; `body` must be consumed or destroyed. */
export interface CdnResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Readable;
}

/** Why a CDN request failed before its headers arrived. */
export class CdnRequestError extends Error {
  constructor(
    readonly kind: 'timeout' | 'connection',
    options: { cause: unknown },
  ) {
    super(kind === 'timeout' ? 'CDN did not answer in time' : 'CDN request failed', options);
    this.name = 'CdnRequestError';
  }
}

export class CdnClient {
  readonly #agent: Agent;

  constructor(options: CdnClientOptions = {}) {
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin ?? 256,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
      bodyTimeout: options.bodyIdleTimeoutMs ?? 15_000,
      // The per-request deadline is what bounds the wait; these are backstops only.
      headersTimeout: 60_000,
      connect: { timeout: 10_000 },
    });
  }

  /**
   * Sends one request. Rejects with `CdnRequestError` on timeout or connection failure, and with
   * the client's abort reason when `signal` fires first. Once the headers are in, `signal` still
   * aborts the body (client gone), the deadline no longer does.
   */
  async request(
    target: CdnTarget,
    init: { method: 'GET' | 'HEAD'; headers: Record<string, string>; timeoutMs: number; signal: AbortSignal },
  ): Promise<CdnResponse> {
    const deadline = startDeadline(init.timeoutMs, init.signal);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#agent.request({
        origin: target.origin,
        path: target.path,
        method: init.method,
        headers: init.headers,
        signal: deadline.signal,
      });
    } catch (error) {
      deadline.release();
      if (init.signal.aborted) throw init.signal.reason ?? error;
      throw new CdnRequestError(deadline.timedOut ? 'timeout' : 'connection', { cause: error });
    }
    deadline.disarm();
    response.body.once('close', deadline.release);
    // undici's body emits an error when destroyed before its end (even by us, on purpose); whoever
    // streams it listens for errors itself, so an unobserved one must not crash the process.
    response.body.on('error', () => undefined);
    return { statusCode: response.statusCode, headers: response.headers, body: response.body };
  }

  /** Closes every pooled connection. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}
