/**
 * Reads the Secrets that DarkroomApps name in `storage.credentialsSecretRef` and keeps them
 * fresh, serving them to the storage builders through the synchronous
 * {@link SecretCredentialsLookup}. Each Secret is read by name (GET) when an app starts naming it
 * and re-read every `refreshMs`; a change (new resourceVersion) is announced, so statuses and
 * storage providers follow a rotation. Reading by name keeps RBAC to `get` on secrets (narrowable
 * with `resourceNames`) instead of list/watch, which would cache every Secret of the namespace.
 *
 * A Secret that cannot be read (403 without RBAC for it, or the API failing) is `unreadable` until
 * a read succeeds, unless it had been read before: then the last known data stays in use, so an
 * API outage does not take credentials away from serving apps. A failing read is logged once when
 * it starts failing and once when it recovers, not on every retry.
 */
import type { Logger } from 'pino';
import type { SecretCredentialsLookup, SecretData } from '../../../storage/credentials.js';
import { KubeApiError, type KubeApi } from './kube-api.js';

/** What is known about one referenced Secret. */
export type SecretState =
  | { readonly state: 'unknown' }
  | { readonly state: 'missing' }
  | { readonly state: 'present'; readonly data: SecretData; readonly version: string }
  /** Never read successfully: `status` is the HTTP status of the last attempt (403: RBAC), 0 without a response. */
  | { readonly state: 'unreadable'; readonly status: number };

/** Options of {@link SecretReader}. */
export interface SecretReaderOptions {
  readonly api: KubeApi;
  readonly logger: Logger;
  /** Re-read interval, in ms. Default 30 000. */
  readonly refreshMs?: number;
  /** Called after a referenced Secret appeared, changed or disappeared. */
  readonly onChange: () => void;
}

export class SecretReader implements SecretCredentialsLookup {
  readonly #options: SecretReaderOptions;
  readonly #secrets = new Map<string, SecretState>();
  readonly #reading = new Map<string, Promise<void>>();
  /** Secrets whose last read failed (logged once per failure streak). */
  readonly #failing = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: SecretReaderOptions) {
    this.#options = options;
  }

  get(namespace: string, name: string): SecretData | undefined {
    const entry = this.#secrets.get(key(namespace, name));
    return entry?.state === 'present' ? entry.data : undefined;
  }

  version(namespace: string, name: string): string | undefined {
    const entry = this.#secrets.get(key(namespace, name));
    return entry?.state === 'present' ? entry.version : undefined;
  }

  /** What is known about a Secret (for status). */
  state(namespace: string, name: string): SecretState {
    return this.#secrets.get(key(namespace, name)) ?? { state: 'unknown' };
  }

  /**
   * Sets the Secrets to keep (`namespace/name` keys): new ones are read at once, others are
   * forgotten. Resolves when every one of them has been tried at least once (read, found missing,
   * or failed: each attempt is bounded by the API call deadline).
   */
  async track(refs: ReadonlySet<string>): Promise<void> {
    for (const ref of this.#secrets.keys()) {
      if (!refs.has(ref)) {
        this.#secrets.delete(ref);
        this.#failing.delete(ref);
      }
    }
    const fresh = [...refs].filter((ref) => !this.#secrets.has(ref));
    for (const ref of fresh) this.#secrets.set(ref, { state: 'unknown' });
    this.#schedule();
    // Also waits for reads that an earlier call started and that have not finished yet.
    const untried = [...refs].filter((ref) => this.#secrets.get(ref)?.state === 'unknown');
    await Promise.all(untried.map((ref) => this.#read(ref)));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void Promise.all([...this.#secrets.keys()].map((ref) => this.#read(ref))).finally(() => {
        if (this.#secrets.size > 0) this.#schedule();
      });
    }, this.#options.refreshMs ?? 30_000);
    this.#timer.unref();
  }

  #read(ref: string): Promise<void> {
    const running = this.#reading.get(ref);
    if (running) return running;
    const reading = this.#readOnce(ref).finally(() => this.#reading.delete(ref));
    this.#reading.set(ref, reading);
    return reading;
  }

  async #readOnce(ref: string): Promise<void> {
    const [namespace, name] = ref.split('/') as [string, string];
    const { logger } = this.#options;
    let next: SecretState;
    try {
      const secret = await this.#options.api.readSecret(namespace, name);
      next = secret ? { state: 'present', data: secret.data, version: secret.resourceVersion } : { state: 'missing' };
      if (this.#failing.delete(ref)) logger.info({ secret: name, namespace }, 'credentials Secret readable again');
    } catch (error) {
      if (this.#stopped || !this.#secrets.has(ref)) return;
      const status = error instanceof KubeApiError ? error.status : 0;
      const previous = this.#secrets.get(ref);
      const kept = previous?.state === 'present';
      if (!this.#failing.has(ref)) {
        this.#failing.add(ref);
        logger.warn(
          { err: error, secret: name, namespace, status },
          kept ? 'could not read a credentials Secret; keeping the last known' : 'could not read a credentials Secret; its apps are not served until it can be read',
        );
      }
      // Keep what we had: an API outage must not take credentials away from serving apps.
      if (kept) return;
      next = { state: 'unreadable', status };
    }
    if (this.#stopped || !this.#secrets.has(ref)) return;
    const previous = this.#secrets.get(ref);
    this.#secrets.set(ref, next);
    if (!sameState(previous, next)) this.#options.onChange();
  }
}

function sameState(a: SecretState | undefined, b: SecretState): boolean {
  if (a?.state !== b.state) return false;
  if (a.state === 'present' && b.state === 'present') return a.version === b.version;
  if (a.state === 'unreadable' && b.state === 'unreadable') return a.status === b.status;
  return true;
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
