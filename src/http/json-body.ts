/**
 * Reads a small JSON request body, for the upload-authorisation endpoint.
 *
 * `express.json()` (body-parser) is general: any charset through iconv, gzip/deflate/br inflation,
 * a verify hook, media-type matching through three packages. Together with the route layers it
 * brings, it cost about a sixth of this endpoint's CPU. A presign body is a file name and two
 * numbers in UTF-8, so this reader accepts exactly that and keeps body-parser's observable rules:
 * a body that must start with `{` or `[`, an empty body read as `{}`, a size limit checked against
 * Content-Length before reading and against the bytes while reading.
 */
import type { IncomingMessage } from 'node:http';
import { darkroomError, isDarkroomError } from '../core/errors.js';

/** Whether a Content-Type header names JSON: `application/json`, any parameters, any case. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semicolon = contentType.indexOf(';');
  const essence = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return essence === 'application/json';
}

/** The `charset` parameter of a Content-Type, lower-cased; undefined when there is none. */
export function charsetOf(contentType: string): string | undefined {
  for (const parameter of contentType.split(';').slice(1)) {
    const equals = parameter.indexOf('=');
    if (equals === -1) continue;
    if (parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    return parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return undefined;
}

/** Whether a request carries a body at all (Content-Length or Transfer-Encoding present). */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;
}

const firstCharacter = /^[ \t\n\r]*(.)/s;

/**
 * Parses the body's JSON. Pure: `{}` for an empty body, INVALID_JSON for anything that is not an
 * object or array at the top level (strict, as body-parser) or does not parse.
 */
export function parseJsonText(text: string): unknown {
  if (text.length === 0) return {};
  const first = firstCharacter.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw darkroomError('INVALID_JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw darkroomError('INVALID_JSON', { cause: error });
  }
}

/**
 * The parsed body of a request already known to be JSON; undefined when it has none. Throws
 * catalogue errors: UNSUPPORTED_MEDIA_TYPE for a charset other than UTF-8 or a compressed body,
 * PAYLOAD_TOO_LARGE beyond `limitBytes`, INVALID_JSON, BAD_REQUEST when the client stops sending.
 */
export function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  if (!hasBody(req)) return Promise.resolve(undefined);
  const charset = charsetOf(req.headers['content-type'] ?? '');
  const encoding = req.headers['content-encoding']?.trim().toLowerCase();
  if ((charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') || (encoding !== undefined && encoding !== 'identity')) {
    return Promise.reject(
      darkroomError('UNSUPPORTED_MEDIA_TYPE', { detail: 'compressed or non-UTF-8 body' }),
    );
  }
  const declared = Number(req.headers['content-length']);
  if (declared > limitBytes) return Promise.reject(darkroomError('PAYLOAD_TOO_LARGE'));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const fail = (error: Error) => {
      cleanup();
      // Stop buffering; Node reads and discards the rest so the connection can be reused.
      req.resume();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) fail(darkroomError('PAYLOAD_TOO_LARGE'));
      else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      try {
        // Decoded once, whole, so a character split across chunks stays intact.
        resolve(parseJsonText((chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8')));
      } catch (error) {
        reject(isDarkroomError(error) ? error : darkroomError('INVALID_JSON', { cause: error }));
      }
    };
    const onError = (error: Error) => fail(darkroomError('BAD_REQUEST', { cause: error }));
    // Closed before the last byte: the client went away mid-body (nobody reads the answer).
    const onClose = () => fail(darkroomError('BAD_REQUEST', { detail: 'the client stopped sending the request body' }));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
