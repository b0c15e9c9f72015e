/**
 * One list-then-watch session for DarkroomApps, on @kubernetes/client-node's `Watch` (its HTTP,
 * auth and TLS). It lists when it has no resourceVersion, then watches from it, reconnecting after
 * every clean end, and re-lists after `410 Gone`. It returns only when its signal aborts and
 * throws on anything else (HTTP error, ERROR event, dropped connection, stall): restarting is the
 * supervisor's job, as with client-node's own informer, which stops for good on such errors.
 *
 * Why not client-node's `ListWatch` informer: it never asks for bookmarks (so on a quiet CRD the
 * resourceVersion goes stale and reconnects end in 410 re-lists), it hides when it re-lists, and
 * on any error but 410 or its own timeout it stops for good, only telling its `error` handlers.
 * Level-based handling is kept: every event carries the whole object.
 *
 * Timeouts. A real API server sends a BOOKMARK about once a minute on a quiet watch
 * (`defaultBookmarkFrequency`, one minute in 1.20 and today) and ends the watch cleanly after the
 * `timeoutSeconds` asked for. So a quiet, healthy watch can be silent for up to a minute: the
 * stall timer must wait well past that (the default is 150 s, 2.5 bookmark intervals, so one lost
 * bookmark is tolerated), and a clean end is resumed at once, without backoff. Until the response
 * headers arrive a shorter connect timeout applies: a real server answers a watch's headers at once.
 * client-node 2.0.1's `Watch` has its own timer (node_modules/@kubernetes/client-node/dist/watch.js:
 * armed before the request, re-armed on every body chunk, 30 s by default, the inactivity timeout
 * of kubernetes-client/javascript PR #3022); at 30 s it would cut every quiet watch before the
 * first bookmark, so it is set just beyond ours (`requestTimeoutMs`) and only backs ours up.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { darkroomAppResource, KubeApiError, type KubeApi, type KubeObject } from './kube-api.js';

/** How much later than our inactivity timer client-node's own fires, in ms. */
const clientTimeoutMarginMs = 5_000;

/**
 * A client-node `Watch` whose own inactivity timer fires `clientTimeoutMarginMs` after ours, so
 * that it only backs ours up. The timer is the instance field `requestTimeoutMs` (private in the
 * typings, 30 000 by default in 2.0.1); if a client-node upgrade renames it, this fails at start
 * instead of silently cutting every quiet watch at 30 s again.
 */
export function createWatch(kubeConfig: KubeConfig, inactivityTimeoutMs: number): Watch {
  const watch = new Watch(kubeConfig);
  const fields = watch as unknown as { requestTimeoutMs?: unknown };
  if (typeof fields.requestTimeoutMs !== 'number') {
    throw new Error('@kubernetes/client-node Watch has no requestTimeoutMs any more: review list-watch.ts before upgrading');
  }
  fields.requestTimeoutMs = inactivityTimeoutMs + clientTimeoutMarginMs;
  return watch;
}

/** What the session reports to its owner. */
export interface ListWatchHandlers {
  /** A full list arrived: it replaces everything known. */
  replaceAll(items: readonly KubeObject[]): void;
  /** An object was added or modified (the whole object). */
  upsert(object: KubeObject): void;
  /** An object was deleted. */
  remove(object: KubeObject): void;
  /** Something arrived from the API server (list, event, bookmark). */
  alive(): void;
  /**
   * The watch connection opened (true), or failed or was stopped (false). A clean end (the
   * server's timeout, or 410 Gone) is followed by an immediate reconnect and is not reported.
   */
  connected(isConnected: boolean): void;
  /** A full list was made (first sync, after 410 Gone, after a rebuild). */
  relisted(): void;
}

/** Options of {@link runListWatch}. */
export interface ListWatchOptions {
  readonly api: KubeApi;
  readonly watch: Watch;
  /** Namespace to watch; undefined for all namespaces. */
  readonly namespace: string | undefined;
  readonly handlers: ListWatchHandlers;
  /** A watch that delivers nothing (not even a bookmark) this long is a stall, in ms. */
  readonly inactivityTimeoutMs: number;
  /** A watch whose response headers have not arrived after this long is a stall, in ms. */
  readonly connectTimeoutMs: number;
  /** `timeoutSeconds` sent with each watch, so the server ends it cleanly; chosen per watch. */
  readonly serverTimeoutSeconds: () => number;
  readonly signal: AbortSignal;
}

/** Where a session resumes: kept by the owner across restarts. Empty means "list first". */
export interface ListWatchState {
  resourceVersion: string;
}

/** The watch delivered nothing for longer than the inactivity timeout. */
class WatchStalledError extends Error {
  constructor(ms: number) {
    super(`the DarkroomApp watch delivered nothing for ${ms} ms`);
    this.name = 'WatchStalledError';
  }
}

/** Runs list → watch → watch … until `signal` aborts (resolves) or something fails (rejects). */
export async function runListWatch(options: ListWatchOptions, state: ListWatchState): Promise<void> {
  const { api, namespace, handlers, signal } = options;
  while (!signal.aborted) {
    if (!state.resourceVersion) {
      const list = await api.listDarkroomApps(namespace);
      if (signal.aborted) return;
      handlers.replaceAll(list.items);
      handlers.relisted();
      handlers.alive();
      state.resourceVersion = list.resourceVersion;
    }
    const outcome = await watchOnce(options, state);
    // 410 Gone: the history we would resume from is compacted; only a fresh list is safe.
    if (outcome === 'gone') state.resourceVersion = '';
  }
}

/** The path of the DarkroomApp collection in one namespace or all. */
function darkroomAppsPath(namespace: string | undefined): string {
  const { group, version, plural } = darkroomAppResource;
  return namespace === undefined
    ? `/apis/${group}/${version}/${plural}`
    : `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
}

function watchOnce(options: ListWatchOptions, state: ListWatchState): Promise<'ended' | 'gone'> {
  const { handlers, signal, inactivityTimeoutMs, connectTimeoutMs } = options;
  return new Promise((resolve, reject) => {
    let controller: AbortController | undefined;
    let finished = false;
    let failure: Error | undefined;
    let gone = false;
    let timer: NodeJS.Timeout | undefined;

    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        failure ??= new WatchStalledError(ms);
        finish(null);
      }, ms);
    };
    const onAbort = () => finish(null);
    const fail = (error: Error) => {
      handlers.connected(false);
      reject(error);
    };
    const finish = (error: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      controller?.abort();
      if (signal.aborted) {
        handlers.connected(false);
        return resolve('ended');
      }
      if (failure) return fail(failure);
      if (gone || statusOf(error) === 410) return resolve('gone');
      if (error && (error as { name?: unknown }).name === 'TimeoutError') return fail(new WatchStalledError(inactivityTimeoutMs + clientTimeoutMarginMs));
      if (error) return fail(error instanceof Error ? error : new Error(`watch failed: ${JSON.stringify(error)}`));
      resolve('ended'); // the server ended the watch cleanly (timeoutSeconds): resume from our RV
    };

    signal.addEventListener('abort', onAbort, { once: true });
    arm(connectTimeoutMs);
    const query = {
      resourceVersion: state.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: options.serverTimeoutSeconds(),
    };
    const onEvent = (type: string, object: KubeObject & { code?: number; message?: string }) => {
      if (finished) return;
      arm(inactivityTimeoutMs);
      handlers.alive();
      switch (type) {
        case 'ADDED':
        case 'MODIFIED':
          handlers.upsert(object);
          break;
        case 'DELETED':
          handlers.remove(object);
          break;
        case 'BOOKMARK':
          break; // only its resourceVersion matters
        case 'ERROR':
          if (object.code === 410) gone = true;
          else failure = new KubeApiError(object.code ?? 0, `watch ERROR event: ${object.message ?? 'unknown'}`);
          return finish(null);
        default:
          return;
      }
      const resourceVersion = object.metadata?.resourceVersion;
      if (resourceVersion) state.resourceVersion = resourceVersion;
    };
    options.watch.watch(darkroomAppsPath(options.namespace), query, onEvent, finish).then(
      (opened) => {
        controller = opened;
        if (finished) return opened.abort();
        // The headers arrived (the watch is established): from here on, the inactivity timeout.
        arm(inactivityTimeoutMs);
        handlers.connected(true);
      },
      finish,
    );
  });
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { statusCode, status, code } = error as { statusCode?: unknown; status?: unknown; code?: unknown };
  for (const value of [statusCode, status, code]) if (typeof value === 'number') return value;
  return undefined;
}
