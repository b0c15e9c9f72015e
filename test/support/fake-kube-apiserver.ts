/**
 * An in-process HTTP server that speaks the parts of the Kubernetes API protocol darkroom uses, so
 * the real @kubernetes/client-node client can be tested without a cluster (Debian and npm package
 * no kube-apiserver):
 *
 * - `DarkroomApp` list (with `resourceVersion`) and watch (chunked JSON event lines, replay from a
 *   resourceVersion, synthetic ADDED events for a watch without one, `BOOKMARK`s when
 *   `allowWatchBookmarks=true`, `timeoutSeconds`), `410 Gone` for compacted history (as an ERROR
 *   event, like the real server, or as an HTTP status), injected ERROR events, dropped
 *   connections, silently stalled connections, and the whole server going down and back up.
 * - `PATCH …/status` with `application/merge-patch+json` (status only; a no-op patch does not
 *   bump the resourceVersion, as on a real server).
 * - `coordination.k8s.io/v1` Leases with optimistic concurrency (409 on a stale resourceVersion).
 * - core/v1 Secrets (get).
 * - Bearer-token authentication (401 otherwise).
 *
 * Timings stand for a real kube-apiserver's (read in the 1.20.2 tree, unchanged since; the test
 * tier in test/kube runs darkroom against a real one):
 * - {@link FakeKubeApiServer.bookmarkIntervalMs}: the watch cache bookmarks a quiet watch that
 *   asked for bookmarks about once a minute (`defaultBookmarkFrequency` in cacher.go) and right
 *   before the watch's deadline. Default 60 000 ms, as there; fast tests scale it down together
 *   with darkroom's inactivity timeout (test/support/kube-darkroom.ts keeps the production ratio).
 * - {@link FakeKubeApiServer.minRequestTimeoutSeconds}: a watch without `timeoutSeconds` is ended
 *   by the server after a random time in [min, 2·min) of `--min-request-timeout` (default 1800 s);
 *   with `timeoutSeconds` it ends after exactly that, cleanly (the stream just closes).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isDeepStrictEqual } from 'node:util';

type Json = Record<string, unknown>;
type Resource = 'darkroomapps' | 'leases' | 'secrets';

/** One watch event as sent on the wire. */
interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: Json;
}

interface HistoryEntry {
  readonly rv: number;
  readonly resource: Resource;
  readonly namespace: string;
  readonly event: WatchEvent;
}

interface Watcher {
  readonly resource: Resource;
  readonly namespace: string | undefined;
  readonly response: ServerResponse;
  readonly bookmarks: boolean;
  /** A stalled watcher keeps its connection open but receives nothing (a half-open TCP link). */
  stalled: boolean;
  /** When this watcher gets its next periodic BOOKMARK (ms since the epoch). */
  nextBookmarkAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** A request as the server saw it, for assertions. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly body: unknown;
}

/** A fault to inject into the next matching requests. */
export interface InjectedFault {
  readonly method: string;
  /** Matched against the request path (no query). */
  readonly path: RegExp;
  /** Also match on a query parameter, e.g. `{ watch: 'true' }`. */
  readonly query?: Readonly<Record<string, string>>;
  readonly status: number;
  /** How many requests fail. Default 1. */
  times?: number;
}

const appsGroupVersion = 'darkroom.dev/v1alpha1';
const appsPath = /^\/apis\/darkroom\.dev\/v1alpha1(?:\/namespaces\/([^/]+))?\/darkroomapps(?:\/([^/]+)(\/status)?)?$/;
const leasesPath = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/;
const secretsPath = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/;

export class FakeKubeApiServer {
  /** The bearer token clients must present. */
  readonly token = randomBytes(16).toString('hex');
  readonly requests: RecordedRequest[] = [];
  /** Answer compacted watches with HTTP 410 instead of an ERROR event in a 200 stream. */
  goneAsHttpStatus = false;
  /**
   * A watcher that asked for bookmarks gets a BOOKMARK this long after it opened and after each
   * previous one, in ms; 0 sends none. Default 60 000: the real watch cache's one minute.
   */
  bookmarkIntervalMs = 60_000;
  /** The real server's `--min-request-timeout`: bounds a watch sent without `timeoutSeconds`, in s. Default 1800. */
  minRequestTimeoutSeconds = 1_800;

  #server: Server;
  #port = 0;
  #rv = 1000;
  #compactedBelow = 0;
  readonly #store = new Map<Resource, Map<string, Json>>([
    ['darkroomapps', new Map()],
    ['leases', new Map()],
    ['secrets', new Map()],
  ]);
  readonly #history: HistoryEntry[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #sockets = new Set<Socket>();
  readonly #faults: InjectedFault[] = [];
  #bookmarkTimer: NodeJS.Timeout | undefined;

  private constructor() {
    this.#server = this.#createServer();
  }

  /** Starts a server on a free loopback port. */
  static async start(): Promise<FakeKubeApiServer> {
    const server = new FakeKubeApiServer();
    await server.#listen(0);
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** A kubeconfig for this server (what `KUBECONFIG` would name in development). */
  kubeconfig(namespace = 'default'): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      // Plain HTTP on loopback: client-node allows it only with TLS verification off.
      `- name: fake\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true`,
      'users:',
      `- name: darkroom\n  user:\n    token: ${this.token}`,
      'contexts:',
      `- name: fake\n  context:\n    cluster: fake\n    user: darkroom\n    namespace: ${namespace}`,
      'current-context: fake',
      '',
    ].join('\n');
  }

  // ---- test controls: DarkroomApps -------------------------------------------------------------

  /** Creates or updates a DarkroomApp like `kubectl apply` (spec and metadata; status kept). */
  apply(document: Json): Json {
    const metadata = (document.metadata ?? {}) as Json;
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
    const name = String(metadata.name);
    const key = `${namespace}/${name}`;
    const existing = this.#store.get('darkroomapps')!.get(key);
    const rv = ++this.#rv;
    const generation = existing
      ? Number((existing.metadata as Json).generation) + (isDeepStrictEqual(existing.spec, document.spec) ? 0 : 1)
      : 1;
    const object: Json = {
      ...structuredClone(document),
      apiVersion: appsGroupVersion,
      kind: 'DarkroomApp',
      metadata: {
        ...structuredClone(metadata),
        namespace,
        name,
        uid: existing ? (existing.metadata as Json).uid : randomBytes(8).toString('hex'),
        generation,
        resourceVersion: String(rv),
        creationTimestamp: existing ? (existing.metadata as Json).creationTimestamp : new Date().toISOString(),
      },
      ...(existing?.status === undefined ? {} : { status: existing.status }),
    };
    this.#store.get('darkroomapps')!.set(key, object);
    this.#record('darkroomapps', namespace, existing ? 'MODIFIED' : 'ADDED', object);
    return object;
  }

  delete(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const existing = this.#store.get('darkroomapps')!.get(key);
    if (!existing) throw new Error(`no DarkroomApp ${key}`);
    this.#store.get('darkroomapps')!.delete(key);
    const rv = ++this.#rv;
    const object = { ...existing, metadata: { ...(existing.metadata as Json), resourceVersion: String(rv) } };
    this.#record('darkroomapps', namespace, 'DELETED', object);
  }

  /** The stored DarkroomApp, status included. */
  get(namespace: string, name: string): Json | undefined {
    const object = this.#store.get('darkroomapps')!.get(`${namespace}/${name}`);
    return object === undefined ? undefined : structuredClone(object);
  }

  // ---- test controls: Secrets and Leases -------------------------------------------------------

  /** Creates or replaces a Secret; `data` is given in clear text and stored base64-encoded. */
  setSecret(namespace: string, name: string, data: Record<string, string>): void {
    const rv = ++this.#rv;
    this.#store.get('secrets')!.set(`${namespace}/${name}`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { namespace, name, resourceVersion: String(rv) },
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
    });
  }

  /** Stores a Lease as another holder would have written it. */
  putLease(namespace: string, name: string, spec: Json): void {
    this.#store.get('leases')!.set(`${namespace}/${name}`, withMeta({ metadata: { name }, spec }, namespace, ++this.#rv));
  }

  lease(namespace: string, name: string): Json | undefined {
    const object = this.#store.get('leases')!.get(`${namespace}/${name}`);
    return object === undefined ? undefined : structuredClone(object);
  }

  // ---- test controls: faults -------------------------------------------------------------------

  /** Forgets the event history up to now: a watch resuming from an older resourceVersion gets 410. */
  compact(): void {
    this.#compactedBelow = this.#rv + 1;
    this.#history.length = 0;
  }

  /** Sends an ERROR event (a `Status`) to every open watch, then ends those watches. */
  sendWatchError(code: number, reason = code === 410 ? 'Expired' : 'InternalError'): void {
    for (const watcher of this.#watchers) {
      this.#write(watcher, { type: 'ERROR', object: statusObject(code, reason, `injected ${reason}`) });
      this.#endWatch(watcher);
    }
  }

  /** Destroys the sockets of every open watch without a clean end (a dropped connection). */
  dropWatches(): void {
    for (const watcher of this.#watchers) {
      this.#watchers.delete(watcher);
      clearTimeout(watcher.timer);
      watcher.response.socket?.destroy();
    }
  }

  /** Freezes every open watch: connections stay open and deliver nothing from now on. */
  stallWatches(): void {
    for (const watcher of this.#watchers) watcher.stalled = true;
  }

  /** Open (not stalled) watches. */
  get liveWatches(): number {
    return [...this.#watchers].filter((watcher) => !watcher.stalled).length;
  }

  /** Makes the next matching requests fail with `status`. */
  inject(fault: InjectedFault): void {
    this.#faults.push({ times: 1, ...fault });
  }

  /** Stops the server, keeping its data (the port refuses connections until `resume`). */
  async pause(): Promise<void> {
    await this.#shutdown();
  }

  /** Listens again on the same port. */
  async resume(): Promise<void> {
    this.#server = this.#createServer();
    await this.#listen(this.#port);
  }

  async close(): Promise<void> {
    await this.#shutdown();
  }

  // ---- internals -------------------------------------------------------------------------------

  #createServer(): Server {
    const server = createServer((request, response) => {
      void this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) send(response, 500, statusObject(500, 'InternalError', String(error)));
        else response.destroy();
      });
    });
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    return server;
  }

  async #listen(port: number): Promise<void> {
    this.#server.listen(port, '127.0.0.1');
    await once(this.#server, 'listening');
    this.#port = (this.#server.address() as AddressInfo).port;
    clearInterval(this.#bookmarkTimer);
    this.#bookmarkTimer = setInterval(() => {
      if (this.bookmarkIntervalMs === 0) return;
      const now = Date.now();
      for (const watcher of this.#watchers) {
        if (!watcher.bookmarks || now < watcher.nextBookmarkAt) continue;
        watcher.nextBookmarkAt = now + this.bookmarkIntervalMs;
        this.#sendBookmark(watcher);
      }
    }, 20);
    this.#bookmarkTimer.unref();
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#bookmarkTimer);
    for (const watcher of this.#watchers) clearTimeout(watcher.timer);
    this.#watchers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #record(resource: Resource, namespace: string, type: WatchEvent['type'], object: Json): void {
    const event: WatchEvent = { type, object: structuredClone(object) };
    this.#history.push({ rv: this.#rv, resource, namespace, event });
    for (const watcher of this.#watchers) {
      if (watcher.resource === resource && (watcher.namespace === undefined || watcher.namespace === namespace)) {
        this.#write(watcher, event);
      }
    }
  }

  #write(watcher: Watcher, event: WatchEvent): void {
    if (watcher.stalled || watcher.response.writableEnded) return;
    // One JSON object per line, each its own chunk, as the real server streams them.
    watcher.response.write(`${JSON.stringify(event)}\n`);
  }

  #sendBookmark(watcher: Watcher): void {
    this.#write(watcher, {
      type: 'BOOKMARK',
      object: { apiVersion: appsGroupVersion, kind: 'DarkroomApp', metadata: { resourceVersion: String(this.#rv) } },
    });
  }

  #endWatch(watcher: Watcher): void {
    this.#watchers.delete(watcher);
    clearTimeout(watcher.timer);
    if (!watcher.response.writableEnded) watcher.response.end();
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const contentType = request.headers['content-type']?.split(';')[0]?.trim();
    const text = await readBody(request);
    let body: unknown;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return send(response, 400, statusObject(400, 'BadRequest', 'body is not valid JSON'));
      }
    }
    const method = request.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query, contentType, body });

    if (request.headers.authorization !== `Bearer ${this.token}`) {
      return send(response, 401, statusObject(401, 'Unauthorized', 'Unauthorized'));
    }
    const fault = this.#faults.find(
      (candidate) =>
        candidate.method === method &&
        candidate.path.test(url.pathname) &&
        Object.entries(candidate.query ?? {}).every(([key, value]) => query[key] === value),
    );
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.#faults.splice(this.#faults.indexOf(fault), 1);
      return send(response, fault.status, statusObject(fault.status, 'InjectedFault', 'injected fault'));
    }

    let match = appsPath.exec(url.pathname);
    if (match) return this.#apps(method, match[1], match[2], match[3] !== undefined, query, contentType, body, response);
    match = leasesPath.exec(url.pathname);
    if (match) return this.#leases(method, match[1]!, match[2], body, response);
    match = secretsPath.exec(url.pathname);
    if (match && method === 'GET' && match[2]) {
      const secret = this.#store.get('secrets')!.get(`${match[1]}/${match[2]}`);
      return secret ? send(response, 200, secret) : notFound(response, 'secrets', match[2]);
    }
    return send(response, 404, statusObject(404, 'NotFound', `no route for ${method} ${url.pathname}`));
  }

  #apps(
    method: string,
    namespace: string | undefined,
    name: string | undefined,
    status: boolean,
    query: Record<string, string>,
    contentType: string | undefined,
    body: unknown,
    response: ServerResponse,
  ): void {
    const store = this.#store.get('darkroomapps')!;
    if (method === 'GET' && name === undefined) {
      if (query.watch === 'true' || query.watch === '1') return this.#watch('darkroomapps', namespace, query, response);
      const items = [...store.entries()]
        .filter(([key]) => namespace === undefined || key.startsWith(`${namespace}/`))
        .map(([, object]) => object);
      return send(response, 200, {
        apiVersion: appsGroupVersion,
        kind: 'DarkroomAppList',
        metadata: { resourceVersion: String(this.#rv) },
        items,
      });
    }
    if (namespace === undefined || name === undefined) return send(response, 405, statusObject(405, 'MethodNotAllowed', 'not supported'));
    const key = `${namespace}/${name}`;
    const existing = store.get(key);
    if (method === 'GET' && !status) return existing ? send(response, 200, existing) : notFound(response, 'darkroomapps', name);
    if (method !== 'PATCH' || !status) return send(response, 405, statusObject(405, 'MethodNotAllowed', 'not supported'));
    if (!existing) return notFound(response, 'darkroomapps', name);
    if (contentType !== 'application/merge-patch+json') {
      return send(response, 415, statusObject(415, 'UnsupportedMediaType', `unsupported patch type ${contentType ?? ''}`));
    }
    const patch = (body ?? {}) as Json;
    const nextStatus = mergePatch(existing.status, patch.status);
    const expectedRv = (patch.metadata as Json | undefined)?.resourceVersion;
    if (expectedRv !== undefined && expectedRv !== (existing.metadata as Json).resourceVersion) {
      return send(response, 409, statusObject(409, 'Conflict', 'the object has been modified'));
    }
    // A patch that changes nothing is a no-op on a real server: no new resourceVersion, no event.
    if (isDeepStrictEqual(nextStatus, existing.status)) return send(response, 200, existing);
    const rv = ++this.#rv;
    const object = { ...existing, metadata: { ...(existing.metadata as Json), resourceVersion: String(rv) }, status: nextStatus };
    store.set(key, object);
    this.#record('darkroomapps', namespace, 'MODIFIED', object);
    return send(response, 200, object);
  }

  #watch(resource: Resource, namespace: string | undefined, query: Record<string, string>, response: ServerResponse): void {
    const from = query.resourceVersion ? Number(query.resourceVersion) : undefined;
    if (from !== undefined && from !== 0 && from < this.#compactedBelow - 1) {
      const gone = statusObject(410, 'Expired', `too old resource version: ${from} (${this.#compactedBelow - 1})`);
      if (this.goneAsHttpStatus) return send(response, 410, gone);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    response.flushHeaders();
    const watcher: Watcher = {
      resource,
      namespace,
      response,
      bookmarks: query.allowWatchBookmarks === 'true',
      stalled: false,
      nextBookmarkAt: Date.now() + this.bookmarkIntervalMs,
      timer: undefined,
    };
    const inScope = (entryNamespace: string) => namespace === undefined || namespace === entryNamespace;
    if (from === undefined || from === 0) {
      // No resourceVersion: the server starts with synthetic ADDED events for the current state.
      for (const [key, object] of this.#store.get(resource)!) {
        if (inScope(key.split('/')[0]!)) this.#write(watcher, { type: 'ADDED', object });
      }
    } else {
      for (const entry of this.#history) {
        if (entry.rv > from && entry.resource === resource && inScope(entry.namespace)) this.#write(watcher, entry.event);
      }
    }
    this.#watchers.add(watcher);
    // The real server ends every watch: after timeoutSeconds when given, else after a random time
    // in [min, 2·min) of --min-request-timeout. Just before that it sends a last bookmark.
    const asked = Number(query.timeoutSeconds ?? 0);
    const timeoutSeconds = asked > 0 ? asked : this.minRequestTimeoutSeconds * (1 + Math.random());
    watcher.timer = setTimeout(() => {
      if (watcher.bookmarks) this.#sendBookmark(watcher);
      this.#endWatch(watcher);
    }, timeoutSeconds * 1000);
    watcher.timer.unref();
    response.on('close', () => {
      this.#watchers.delete(watcher);
      clearTimeout(watcher.timer);
    });
  }

  #leases(method: string, namespace: string, name: string | undefined, body: unknown, response: ServerResponse): void {
    const store = this.#store.get('leases')!;
    if (method === 'POST' && name === undefined) {
      const lease = body as Json;
      const leaseName = String((lease.metadata as Json | undefined)?.name);
      const key = `${namespace}/${leaseName}`;
      if (store.has(key)) return send(response, 409, statusObject(409, 'AlreadyExists', `leases "${leaseName}" already exists`));
      const object = withMeta(lease, namespace, ++this.#rv);
      store.set(key, object);
      return send(response, 201, object);
    }
    if (name === undefined) return send(response, 405, statusObject(405, 'MethodNotAllowed', 'not supported'));
    const key = `${namespace}/${name}`;
    const existing = store.get(key);
    if (method === 'GET') return existing ? send(response, 200, existing) : notFound(response, 'leases', name);
    if (method === 'PUT') {
      if (!existing) return notFound(response, 'leases', name);
      const lease = body as Json;
      const expected = (lease.metadata as Json | undefined)?.resourceVersion;
      // Optimistic concurrency: an update must name the resourceVersion it was based on.
      if (expected !== (existing.metadata as Json).resourceVersion) {
        return send(response, 409, statusObject(409, 'Conflict', 'Operation cannot be fulfilled on leases: the object has been modified'));
      }
      const object = withMeta(lease, namespace, ++this.#rv);
      store.set(key, object);
      return send(response, 200, object);
    }
    return send(response, 405, statusObject(405, 'MethodNotAllowed', 'not supported'));
  }
}

function withMeta(object: Json, namespace: string, rv: number): Json {
  return {
    ...object,
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { ...((object.metadata) ?? {}), namespace, resourceVersion: String(rv) },
  };
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const result: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [key, value] of Object.entries(patch as Json)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function statusObject(code: number, reason: string, message: string): Json {
  return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message, reason, code };
}

function notFound(response: ServerResponse, resource: string, name: string): void {
  send(response, 404, statusObject(404, 'NotFound', `${resource} "${name}" not found`));
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
