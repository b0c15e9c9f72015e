/**
 * The bearer token of a request (RFC 6750 §2.1: `Authorization: Bearer <token>`), and the 401
 * answers that section 3 prescribes: a request without a token gets a bare `Bearer` challenge, a
 * request whose token fails gets `error="invalid_token"`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { darkroomError, type DarkroomError } from '../core/errors.js';

/** Compact JWS characters (base64url and dots), bounded: a token is a few hundred bytes to a few KiB. */
const compactJwtPattern = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const maxTokenLength = 8 * 1024;
const realm = 'realm="darkroom"';

/** The token, or throws MISSING_TOKEN (no bearer credentials) / INVALID_TOKEN (not a compact JWT). */
export function readBearerToken(headers: IncomingHttpHeaders): string {
  const header = headers.authorization;
  if (header === undefined) throw missingToken();
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  // Another scheme (Basic, ...) is no bearer token at all: the same answer as none.
  if (!match) {
    if (/^Bearer(\s|$)/i.test(header)) throw invalidToken('the Authorization header is not "Bearer <token>"');
    throw missingToken();
  }
  const token = match[1]!;
  if (token.length > maxTokenLength || !compactJwtPattern.test(token)) throw invalidToken('the bearer token is not a compact JWT');
  return token;
}

export function missingToken(): DarkroomError {
  return darkroomError('MISSING_TOKEN', { headers: { 'WWW-Authenticate': `Bearer ${realm}` } });
}

/** `detail` says why (for the log); the client learns only that the token is not valid. */
export function invalidToken(detail: string, cause?: unknown): DarkroomError {
  return darkroomError('INVALID_TOKEN', { detail, cause, headers: { 'WWW-Authenticate': `Bearer ${realm}, error="invalid_token"` } });
}
