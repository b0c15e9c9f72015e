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
 * Watch timeouts in client-node 2.0.1 (read in node_modules/@kubernetes/client-node/dist/watch.js):
 * a 30 s timer is armed before the request and re-armed on every body chunk, i.e. the *inactivity*
 * timeout of kubernetes-client/javascript PR #3022, not the whole-request abort of #3020 that 2.0.0
 * had. On expiry `done` gets a `TimeoutError`. We add our own, configurable inactivity timer on
 * top (same default), ask for bookmarks so a healthy quiet watch is not mistaken for a dead one,
 * and treat either timer as a stall.
 */
import type { Watch } from '@kubernetes/client-node';
import { darkroomAppResource, KubeApiError, type KubeApi, type KubeObject } from './kube-api.js';

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
  /** The watch connection opened (true) or ended (false). */
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
  const { handlers, signal, inactivityTimeoutMs } = options;
  return new Promise((resolve, reject) => {
    let controller: AbortController | undefined;
    let finished = false;
    let failure: Error | undefined;
    let gone = false;
    let timer: NodeJS.Timeout | undefined;

    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        failure ??= new WatchStalledError(inactivityTimeoutMs);
        finish(null);
      }, inactivityTimeoutMs);
    };
    const onAbort = () => finish(null);
    const finish = (error: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      controller?.abort();
      handlers.connected(false);
      if (signal.aborted) return resolve('ended');
      if (failure) return reject(failure);
      if (gone || statusOf(error) === 410) return resolve('gone');
      if (error && (error as { name?: unknown }).name === 'TimeoutError') return reject(new WatchStalledError(30_000));
      if (error) return reject(error instanceof Error ? error : new Error(`watch failed: ${JSON.stringify(error)}`));
      resolve('ended'); // the server ended the watch cleanly (timeoutSeconds): resume from our RV
    };

    signal.addEventListener('abort', onAbort, { once: true });
    arm();
    const query = {
      resourceVersion: state.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: options.serverTimeoutSeconds(),
    };
    const onEvent = (type: string, object: KubeObject & { code?: number; message?: string }) => {
      if (finished) return;
      arm();
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
        if (finished) opened.abort();
        else handlers.connected(true);
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
