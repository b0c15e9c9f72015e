/**
 * Writes a JSON answer straight onto Node's response: the body serialised once, its exact length,
 * and the Content-Type Express would send. Express's `res.json` re-parses the Content-Type to set
 * a charset and goes through `res.send`'s general machinery, a measurable share of a small answer.
 */
import type { ServerResponse } from 'node:http';

export const jsonContentType = 'application/json; charset=utf-8';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', jsonContentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
