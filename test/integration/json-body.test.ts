/**
 * The presign endpoint's JSON body reader: the media-type and charset rules, strict parsing, and
 * the size limit, driven over real HTTP (a node:http server on a free port, raw client sockets).
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDarkroomError } from '../../src/core/errors.js';
import { charsetOf, isJsonMediaType, parseJsonText, readJsonBody } from '../../src/http/json-body.js';

const limit = 64;

describe('isJsonMediaType and charsetOf', () => {
  it('accepts application/json with any parameters and case, nothing else', () => {
    expect(isJsonMediaType('application/json')).toBe(true);
    expect(isJsonMediaType('Application/JSON ; charset=utf-8')).toBe(true);
    expect(isJsonMediaType('application/jsonx')).toBe(false);
    expect(isJsonMediaType('application/ld+json')).toBe(false);
    expect(isJsonMediaType('text/plain')).toBe(false);
    expect(isJsonMediaType(undefined)).toBe(false);
  });

  it('reads the charset parameter, quoted or not', () => {
    expect(charsetOf('application/json; charset=UTF-8')).toBe('utf-8');
    expect(charsetOf('application/json;foo=bar; Charset="latin1"')).toBe('latin1');
    expect(charsetOf('application/json')).toBeUndefined();
  });
});

describe('parseJsonText', () => {
  const codeOf = (text: string) => {
    try {
      parseJsonText(text);
      return 'parsed';
    } catch (error) {
      return isDarkroomError(error) ? error.code : 'other';
    }
  };

  it('parses objects and arrays, and reads an empty body as {}', () => {
    expect(parseJsonText(' \n{"file":"a.png"}')).toEqual({ file: 'a.png' });
    expect(parseJsonText('[1]')).toEqual([1]);
    expect(parseJsonText('')).toEqual({});
  });

  it('refuses other top-level values and broken JSON with INVALID_JSON', () => {
    for (const text of ['"a.png"', '42', 'null', 'true', '   ', '{"file":', '{file: 1}']) expect(codeOf(text)).toBe('INVALID_JSON');
  });
});

describe('readJsonBody over HTTP', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer((req, res) => {
      readJsonBody(req, limit).then(
        (body) => res.end(JSON.stringify({ body: body === undefined ? '(none)' : body })),
        (error: unknown) => res.end(JSON.stringify({ error: isDarkroomError(error) ? error.code : String(error) })),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  /** Sends `chunks` one write each (chunked unless a Content-Length header is given). */
  async function send(headers: Record<string, string>, chunks: Array<string | Buffer>): Promise<unknown> {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', ...headers } });
    for (const chunk of chunks) req.write(chunk);
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    let text = '';
    for await (const chunk of res) text += String(chunk);
    return JSON.parse(text) as unknown;
  }

  it('reads a body sent in pieces, a character split across two of them intact', async () => {
    const bytes = Buffer.from('{"file":"ünï.png"}');
    const split = bytes.indexOf(0xc3) + 1; // inside the two bytes of "ü"
    expect(await send({}, [bytes.subarray(0, split), bytes.subarray(split)])).toEqual({ body: { file: 'ünï.png' } });
  });

  it('gives undefined for a request without a body, {} for an empty one', async () => {
    // Node's client always declares a length for a POST: a raw request declares none.
    const socket = connect(port, '127.0.0.1');
    socket.end('POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n');
    let raw = '';
    for await (const chunk of socket) raw += String(chunk);
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe(JSON.stringify({ body: '(none)' }));
    expect(await send({ 'content-length': '0' }, [])).toEqual({ body: {} });
  });

  it('refuses a declared length over the limit before reading, and a chunked body once it passes it', async () => {
    expect(await send({ 'content-length': String(limit + 1) }, ['x'.repeat(limit + 1)])).toEqual({ error: 'PAYLOAD_TOO_LARGE' });
    expect(await send({}, ['{"file":"', 'a'.repeat(limit), '"}'])).toEqual({ error: 'PAYLOAD_TOO_LARGE' });
    expect(await send({}, ['{"file":"', 'a'.repeat(limit - 12), '"}'])).toEqual({ body: { file: 'a'.repeat(limit - 12) } });
  });

  it('refuses other charsets and compressed bodies with UNSUPPORTED_MEDIA_TYPE', async () => {
    expect(await send({ 'content-type': 'application/json; charset=utf-16' }, ['{}'])).toEqual({ error: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(await send({ 'content-encoding': 'gzip' }, ['{}'])).toEqual({ error: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(await send({ 'content-type': 'application/json; charset=UTF-8', 'content-encoding': 'identity' }, ['{}'])).toEqual({ body: {} });
  });

  it('refuses a body that is not a JSON object or array', async () => {
    expect(await send({}, ['"a.png"'])).toEqual({ error: 'INVALID_JSON' });
    expect(await send({}, ['{"file": '])).toEqual({ error: 'INVALID_JSON' });
  });
});
