/**
 * A reverse proxy that checks every request's AWS Signature Version 4 before
 * letting it reach an S3-protocol server that does not (s3rver checks a
 * presigned URL's expiry but not its signature). With it in front, local
 * storage refuses what Amazon S3 would refuse: a presigned PUT with another
 * key, Content-Type or Content-Length, a forged signature, a wrong secret, a
 * credential scope for another region, a body that does not have the SHA-256
 * a header-signed request declared, and (conditional writes) a PUT with
 * `If-None-Match: *` over an existing object.
 *
 * Development and tests only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, Agent } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { verifySigV4 } from './sigv4.js';

/** Largest body the proxy reads whole to check a declared SHA-256 (presigned PUTs stream through unread). */
const maxHashedBodyBytes = 256 * 1024 * 1024;

/** Options for {@link startVerifyingProxy}. */
export interface VerifyingProxyOptions {
  /** The S3-protocol server requests are forwarded to once verified. */
  upstream: { host: string; port: number };
  /** Address to listen on; default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; default 0 (a free port). */
  port?: number;
  /** The access keys requests may be signed with. */
  credentials: Array<{ accessKeyId: string; secretAccessKey: string }>;
  /** The region requests must be signed for (S3 refuses another); default `us-east-1`. */
  region?: string;
  /**
   * Origins whose browsers may read this proxy's own error responses (`*` for
   * any). CORS for successful responses and preflights is the upstream's job.
   */
  corsAllowedOrigins?: string[];
}

/** A running proxy. */
export interface VerifyingProxy {
  /** Base URL, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the
 * request, so they are not forwarded. `expect` is answered here (the request is
 * verified before `100 Continue` is sent); `transfer-encoding` is dropped
 * because Node re-frames the body on each side. `host` is not among them: it is
 * signed, so it reaches the upstream exactly as the client sent it.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const connectionTokens = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Escapes text for an XML element or attribute value. */
export function xmlEscape(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** S3 request ids are 16 upper-case hex digits. */
function newRequestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/** The `Access-Control-Allow-Origin` value for an origin, or undefined when it is not allowed. */
function allowedOrigin(origin: string | undefined, allowed: readonly string[]): string | undefined {
  if (!origin) return undefined;
  if (allowed.includes('*')) return '*';
  return allowed.includes(origin) ? origin : undefined;
}

/** Writes an S3-style XML error (the shape SDKs and browsers' code parse). */
function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  corsAllowedOrigins: readonly string[],
  error: { status: number; code: string; message: string; detail?: Record<string, string> },
  awaitingContinue = false,
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const requestId = newRequestId();
  const detail = Object.entries(error.detail ?? {})
    .filter(([name]) => /^[A-Za-z][A-Za-z0-9-]*$/.test(name))
    .map(([name, value]) => `<${name}>${xmlEscape(value)}</${name}>`)
    .join('');
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<Error><Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message>` +
    `${detail}<RequestId>${requestId}</RequestId></Error>`;
  const headers: OutgoingHttpHeaders = {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  };
  const origin = allowedOrigin(req.headers.origin, corsAllowedOrigins);
  if (origin !== undefined) {
    headers['access-control-allow-origin'] = origin;
    headers.vary = 'Origin';
  }
  // A client waiting for `100 Continue` will not send its body now: close the
  // connection, or its next request would be read as that body. Any other
  // refused body is drained (keeping the connection) rather than reset, so
  // the client reads this answer instead of ECONNRESET.
  if (awaitingContinue) headers.connection = 'close';
  res.writeHead(error.status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
  if (!awaitingContinue) req.resume();
}

/**
 * Starts the verifying proxy. `OPTIONS` (CORS preflight, which browsers send
 * without credentials) passes through unverified; every other request must
 * carry a valid SigV4 signature by one of `credentials`, else it is refused
 * with S3's error XML and never reaches the upstream.
 */
export async function startVerifyingProxy(options: VerifyingProxyOptions): Promise<VerifyingProxy> {
  const secrets = new Map(options.credentials.map((c) => [c.accessKeyId, c.secretAccessKey]));
  const region = options.region ?? 'us-east-1';
  const corsAllowedOrigins = options.corsAllowedOrigins ?? [];
  const agent = new Agent({ keepAlive: true });

  /**
   * Streams a verified (or preflight) request to the upstream and its answer
   * back, with backpressure both ways.
   *
   * The response direction uses stream.pipeline. The request direction is
   * piped by hand: pipeline would destroy the client's request when the
   * upstream fails, resetting a connection that should still carry a 503.
   */
  function forward(req: IncomingMessage, res: ServerResponse, body?: Buffer): void {
    let responded = false;
    const upstreamReq = httpRequest({
      host: options.upstream.host,
      port: options.upstream.port,
      method: req.method,
      path: req.url,
      headers: endToEndHeaders(req.headers),
      agent,
    });
    upstreamReq.on('response', (upstreamRes) => {
      responded = true;
      if (res.destroyed) {
        upstreamRes.resume();
        return;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, endToEndHeaders(upstreamRes.headers));
      pipeline(upstreamRes, res, () => {
        // An error here is a client gone away or an upstream reset mid-body;
        // pipeline has destroyed both streams and there is no one to tell.
      });
    });
    upstreamReq.on('error', () => {
      req.unpipe(upstreamReq);
      if (responded) {
        // The upstream answered early (e.g. an error before reading the whole
        // body) and then stopped reading: discard the rest of the upload and
        // let the answer already on its way finish.
        req.resume();
      } else {
        // (sendError destroys the response instead if it is already under way.)
        sendError(req, res, corsAllowedOrigins, {
          status: 503,
          code: 'ServiceUnavailable',
          message: 'The storage service behind the verifying proxy is not reachable.',
        });
      }
    });
    // A client that goes away mid-upload (or mid-download) abandons the upstream exchange too.
    req.on('close', () => {
      if (!req.complete) upstreamReq.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    if (body) upstreamReq.end(body);
    else req.pipe(upstreamReq);
  }

  /**
   * A header-signed request that declared its body's SHA-256: S3 hashes the body and refuses a
   * mismatch (400 XAmzContentSHA256Mismatch) before storing anything, so the body is read whole
   * here, hashed, and only then forwarded. Returns the body, or undefined when it answered.
   */
  async function verifiedBody(req: IncomingMessage, res: ServerResponse, declared: string, expectsContinue: boolean): Promise<Buffer | undefined> {
    if (expectsContinue) res.writeContinue();
    const chunks: Buffer[] = [];
    let size = 0;
    const hash = createHash('sha256');
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxHashedBodyBytes) {
        sendError(req, res, corsAllowedOrigins, { status: 400, code: 'EntityTooLarge', message: 'Your proposed upload exceeds the maximum allowed size of the development storage for a payload-signed request.' });
        return undefined;
      }
      hash.update(chunk);
      chunks.push(chunk);
    }
    const computed = hash.digest('hex');
    if (computed !== declared) {
      sendError(req, res, corsAllowedOrigins, {
        status: 400,
        code: 'XAmzContentSHA256Mismatch',
        message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
        detail: { ClientComputedContentSHA256: declared, S3ComputedContentSHA256: computed },
      });
      return undefined;
    }
    return Buffer.concat(chunks, size);
  }

  /** Verifies a request; on refusal answers it and returns false, else the body hash it must match. */
  function admit(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): { bodySha256: string | undefined } | false {
    if (req.method === 'OPTIONS') return { bodySha256: undefined };
    const verdict = verifySigV4(
      { method: req.method ?? '', rawUrl: req.url ?? '/', headers: req.headers },
      { lookupSecret: (id) => secrets.get(id), now: new Date(), region },
    );
    if (verdict.ok) return { bodySha256: verdict.bodySha256 };
    sendError(req, res, corsAllowedOrigins, verdict, expectsContinue);
    return false;
  }

  /**
   * Whether the object a request names exists upstream: a HEAD with the request's own (verified)
   * credentials, which s3rver accepts without checking the signature. Undefined when the upstream
   * cannot tell (the PUT then goes ahead and the upstream answers it).
   */
  function objectExists(req: IncomingMessage): Promise<boolean | undefined> {
    const headers = endToEndHeaders(req.headers);
    for (const name of ['content-length', 'content-type', 'content-md5', 'if-none-match']) delete headers[name];
    return new Promise((resolve) => {
      const probe = httpRequest({ host: options.upstream.host, port: options.upstream.port, method: 'HEAD', path: req.url, headers, agent }, (answer) => {
        answer.resume();
        resolve(answer.statusCode === 200 ? true : answer.statusCode === 404 ? false : undefined);
      });
      probe.on('error', () => resolve(undefined));
      probe.end();
    });
  }

  /** Object paths with a conditional PUT in flight: S3 lets one win and answers the other 409. */
  const conditionalWrites = new Set<string>();

  /**
   * `If-None-Match: *` on a PUT (S3 conditional writes): refused with 412 when the object exists,
   * as S3 does; s3rver ignores the header, so the proxy decides. Returns false when it answered.
   */
  async function admitConditionalWrite(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<{ release: () => void } | false> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (conditionalWrites.has(path)) {
      sendError(req, res, corsAllowedOrigins, { status: 409, code: 'ConditionalRequestConflict', message: 'A conflicting conditional operation is currently in progress against this resource. Please try again.' }, expectsContinue);
      return false;
    }
    conditionalWrites.add(path);
    const release = (): void => {
      conditionalWrites.delete(path);
    };
    if ((await objectExists(req)) === true) {
      release();
      sendError(req, res, corsAllowedOrigins, { status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions you specified did not hold', detail: { Condition: 'If-None-Match' } }, expectsContinue);
      return false;
    }
    res.once('close', release);
    return { release };
  }

  async function handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    // Without listeners, an 'error' from a client that aborts would be thrown
    // and end the process; the 'close' handlers in forward() clean up.
    req.on('error', () => {});
    res.on('error', () => {});
    try {
      const admitted = admit(req, res, expectsContinue);
      if (!admitted) return;
      if (req.method === 'PUT' && String(req.headers['if-none-match'] ?? '').trim() === '*') {
        if (!(await admitConditionalWrite(req, res, expectsContinue))) return;
      }
      if (admitted.bodySha256 !== undefined) {
        const body = await verifiedBody(req, res, admitted.bodySha256, expectsContinue);
        if (body) forward(req, res, body);
        return;
      }
      // Only a request that passed verification is invited to send its body.
      if (expectsContinue) res.writeContinue();
      forward(req, res);
    } catch (err) {
      // Never let one odd request take the development server down.
      sendError(
        req,
        res,
        corsAllowedOrigins,
        {
          status: 500,
          code: 'InternalError',
          message: `We encountered an internal error. Please try again. (${err instanceof Error ? err.message : String(err)})`,
        },
        expectsContinue,
      );
    }
  }

  const server = createServer();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void handle(req, res, false));
  // With a 'checkContinue' listener Node no longer answers `Expect: 100-continue` itself.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => void handle(req, res, true));
  server.on('clientError', (_err: Error, socket: Socket) => {
    // Malformed HTTP: answer 400 if the socket still can be written, else drop it.
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  // A wildcard listen address is not one a client can connect to; name loopback instead.
  const reachable = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  const urlHost = reachable.includes(':') ? `[${reachable}]` : reachable;

  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
