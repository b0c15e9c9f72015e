/**
 * The one place that turns errors into HTTP responses. Catalogue errors keep their code and
 * status; errors from Express's own parsers are mapped to catalogue codes; anything else is an
 * INTERNAL_ERROR with a generic message (the details go to the log, never to the client).
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { darkroomError, isDarkroomError, type DarkroomError } from '../core/errors.js';
import { sendJson } from './json-response.js';
import { logFor, requestIdOf } from './request-context.js';

/** Express's body parser and router tag their errors with a `type` and an HTTP status. */
interface HttpLayerError {
  type?: string;
  status?: number;
  statusCode?: number;
}

/** Maps any thrown value to a catalogue error. Pure. */
export function toDarkroomError(error: unknown): DarkroomError {
  if (isDarkroomError(error)) return error;
  const layer = (typeof error === 'object' && error !== null ? error : {}) as HttpLayerError;
  switch (layer.type) {
    case 'entity.too.large':
      return darkroomError('PAYLOAD_TOO_LARGE', { cause: error });
    case 'entity.parse.failed':
      return darkroomError('INVALID_JSON', { cause: error });
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return darkroomError('UNSUPPORTED_MEDIA_TYPE', {
        message: 'The request body must be uncompressed UTF-8 JSON.',
        cause: error,
      });
  }
  const status = layer.status ?? layer.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return darkroomError('BAD_REQUEST', { cause: error });
  }
  return darkroomError('INTERNAL_ERROR', { cause: error });
}

/** Writes the JSON error body and headers for a catalogue error. */
export function sendError(res: Response, error: DarkroomError): void {
  if (res.headersSent) {
    // Mid-stream failure: the status line is gone, so the only honest signal is a cut connection.
    res.destroy(error);
    return;
  }
  res.setHeader('Cache-Control', 'no-store');
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  sendJson(res, error.status, {
    success: false,
    error: { code: error.code, message: error.message, requestId: requestIdOf(res.req) },
  });
}

export const errorHandler: ErrorRequestHandler = (error: unknown, req, res, _next) => {
  const mapped = toDarkroomError(error);
  if (mapped.code === 'APP_CONFIG_INVALID') {
    // A refused app is a configuration state, logged once per change where the config is read
    // (and in the DarkroomApp's .status); per request it is no server fault and needs no stack.
    logFor(req).info({ code: mapped.code, detail: mapped.message }, 'request refused: the app is not served');
  } else if (mapped.status >= 500) {
    logFor(req).error({ err: mapped.cause ?? error, code: mapped.code }, 'request failed');
  } else {
    logFor(req).info({ code: mapped.code }, 'request refused');
  }
  sendError(res, mapped);
};

/** The catch-all for paths no route matched. */
export const notFoundHandler: RequestHandler = (_req, _res, next) => {
  next(darkroomError('ROUTE_NOT_FOUND'));
};

/** For a known path with a method it does not support. */
export function methodNotAllowed(allowed: string[]): RequestHandler {
  return (_req, res, next) => {
    res.set('Allow', allowed.join(', '));
    next(darkroomError('METHOD_NOT_ALLOWED'));
  };
}
