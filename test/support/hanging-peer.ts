/**
 * A storage or CDN endpoint that misbehaves on purpose, on a real loopback TCP port: it accepts
 * connections and then never answers, or sends the headers and stalls the body, or answers only
 * after a delay, or cuts the body off. It speaks just enough HTTP/1.1 for the S3 SDK, the GCS JSON API reader and the
 * CDN client to take its answers for real ones (one image object, HEAD, `Range`, GCS metadata as
 * JSON), and it counts connections and which side closed them, so a test can tell that a client
 * that gave up really cancelled its request (the socket closed) rather than leaving it running.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

/** What the peer does with each request. */
export type PeerBehaviour =
  /** Reads the request, never answers. */
  | { readonly kind: 'silent' }
  /** Sends the headers and the first `sentBytes` of the body, then nothing. */
  | { readonly kind: 'stall-body'; readonly sentBytes: number }
  /** Sends the headers and the first `sentBytes` of the body, then closes the connection. */
  | { readonly kind: 'cut-body'; readonly sentBytes: number }
  /** Closes the connection without answering (a keep-alive connection the server dropped). */
  | { readonly kind: 'reset' }
  /** Answers in full, but only after `delayMs` (0: a healthy peer). */
  | { readonly kind: 'slow'; readonly delayMs: number }
  /** Answers every request with this status, headers and body (for a HEAD, without the body). */
  | { readonly kind: 'answer'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string }
  /** Decides per request, from its head (request line and headers). */
  | { readonly kind: 'per-request'; readonly choose: (head: string) => Exclude<PeerBehaviour, { kind: 'per-request' }> };

export interface HangingPeer {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly port: number;
  behaviour: PeerBehaviour;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Connections the client closed (the peer closes one first only on `cut-body`, `reset` and `close()`). */
  readonly closedByClient: number;
  /** Requests whose head arrived. */
  readonly requests: number;
  /** Resolves once `closedByClient` reaches `count`, or rejects after `timeoutMs`. */
  waitForClientCloses(count: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** The one object the peer serves: a JPEG-looking body of this many bytes. */
export const peerObjectBytes = 64 * 1024;
export const peerObject = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(peerObjectBytes - 4, 7)]);
const objectBody = peerObject;
const lastModified = 'Tue, 01 Dec 2026 00:00:00 GMT';
const generation = '1764547200000000';

export async function startHangingPeer(behaviour: PeerBehaviour): Promise<HangingPeer> {
  const state = { behaviour, accepted: 0, closedByClient: 0, requests: 0 };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;
  const waiters = new Set<() => void>();
  const cutByPeer = new WeakSet<Socket>();

  const server: Server = createServer((socket) => {
    state.accepted += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (!closing && !cutByPeer.has(socket)) state.closedByClient += 1;
      for (const wake of waiters) wake();
    });
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        state.requests += 1;
        answer(socket, head, state.behaviour);
      }
    });
  });

  function answer(socket: Socket, head: string, behaviour: PeerBehaviour): void {
    const current = behaviour.kind === 'per-request' ? behaviour.choose(head) : behaviour;
    if (current.kind === 'silent') return;
    if (current.kind === 'reset') {
      cutByPeer.add(socket);
      socket.destroy();
      return;
    }
    if (current.kind === 'answer') {
      const body = head.startsWith('HEAD ') ? '' : current.body;
      socket.write(`${statusHead(current.status, { ...current.headers, 'Content-Length': String(Buffer.byteLength(current.body)) })}${body}`);
      return;
    }
    const response = responseFor(head);
    if (current.kind === 'stall-body' || current.kind === 'cut-body') {
      socket.write(response.head);
      if (response.body.length > 0) socket.write(response.body.subarray(0, Math.min(current.sentBytes, response.body.length - 1)));
      if (current.kind === 'cut-body') {
        cutByPeer.add(socket);
        socket.end();
      }
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!socket.destroyed) socket.write(Buffer.concat([Buffer.from(response.head, 'latin1'), response.body]));
    }, current.delayMs);
    timers.add(timer);
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value: PeerBehaviour) {
      state.behaviour = value;
    },
    get accepted() {
      return state.accepted;
    },
    get open() {
      return sockets.size;
    },
    get closedByClient() {
      return state.closedByClient;
    },
    get requests() {
      return state.requests;
    },
    waitForClientCloses(count, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (state.closedByClient < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${state.closedByClient} of ${count} connections closed by the client within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The answer a healthy storage or CDN would give to `head` (the request line and headers). */
function responseFor(head: string): { head: string; body: Buffer } {
  const [requestLine = '', ...headerLines] = head.split('\r\n');
  const [method = 'GET', target = '/'] = requestLine.split(' ');
  const headers = new Map(headerLines.map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  const isGcsMetadata = target.includes('/storage/v1/') && !target.includes('alt=media');
  if (isGcsMetadata) {
    const json = Buffer.from(
      JSON.stringify({ kind: 'storage#object', contentType: 'image/jpeg', size: String(objectBody.length), generation, updated: new Date(lastModified).toISOString() }),
    );
    return { head: statusHead(200, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': String(json.length) }), body: json };
  }
  const common = { 'Content-Type': 'image/jpeg', ETag: `"${generation}"`, 'Last-Modified': lastModified, 'x-goog-generation': generation, 'Accept-Ranges': 'bytes' };
  const range = /^bytes=(\d+)-(\d*)$/.exec(headers.get('range') ?? '');
  if (range) {
    const start = Number(range[1]);
    const end = Math.min(range[2] ? Number(range[2]) : objectBody.length - 1, objectBody.length - 1);
    const slice = objectBody.subarray(start, end + 1);
    const responseHead = statusHead(206, { ...common, 'Content-Length': String(slice.length), 'Content-Range': `bytes ${start}-${end}/${objectBody.length}` });
    return { head: responseHead, body: method === 'HEAD' ? Buffer.alloc(0) : slice };
  }
  return { head: statusHead(200, { ...common, 'Content-Length': String(objectBody.length) }), body: method === 'HEAD' ? Buffer.alloc(0) : objectBody };
}

function statusHead(status: number, headers: Record<string, string>): string {
  const reason = ({ 200: 'OK', 206: 'Partial Content', 403: 'Forbidden', 404: 'Not Found' } as Record<number, string>)[status] ?? 'Status';
  return `HTTP/1.1 ${status} ${reason}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}Connection: keep-alive\r\n\r\n`;
}
