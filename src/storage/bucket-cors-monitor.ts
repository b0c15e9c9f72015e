/**
 * Checks, for every served app that lists `spec.upload.allowedOrigins`, whether its bucket's CORS
 * rules let those origins send darkroom's presigned PUT, and reports the verdict (`CORSReady`).
 *
 * The headers to allow are not a list kept here: they are the headers the app's own presigner
 * signs (a probe URL is signed and its `headers` read), so a header darkroom starts signing is
 * required by the check at once. A check runs when an app first appears or its storage or origins
 * change, and again every `intervalMs` (someone may edit the bucket). A refused read
 * (`AccessDenied`) is a verdict like any other, re-checked at the next interval; a check that
 * could not run (unreachable bucket, credentials not read yet) is re-tried once after
 * `failedRetryMs` and then at the interval: never a tight retry loop. Checks run one at a time.
 */
import type { Logger } from 'pino';
import type { DarkroomApp } from '../config/darkroom-app.js';
import { corsVerdict, preflightHeaders, type CorsVerdict } from '../core/bucket-cors.js';
import type { StorageProviders } from './storage-providers.js';

/** Options of {@link BucketCorsMonitor}. */
export interface BucketCorsMonitorOptions {
  readonly storage: StorageProviders;
  readonly logger: Logger;
  /** Called when an app's verdict changes; `undefined` when the app no longer needs one. */
  readonly onVerdict: (app: DarkroomApp, verdict: CorsVerdict | undefined) => void;
  /** Re-check interval, in ms. Default 600 000 (10 minutes). */
  readonly intervalMs?: number;
  /** Longest wait for one bucket read, in ms. Default 10 000. */
  readonly timeoutMs?: number;
  /**
   * Re-check delay after a check that could not run (`CORSCheckFailed`: bucket unreachable, the
   * app's credentials Secret not read yet), in ms; one timer per app. Default 30 000, at most the interval.
   */
  readonly failedRetryMs?: number;
}

interface Tracked {
  app: DarkroomApp;
  /** What the last check was for: a changed value means the verdict is stale. */
  key: string;
  verdict: CorsVerdict | undefined;
}

/** What a check depends on: storage, origins and the upload policy that shapes the signed headers. */
function checkKey(app: DarkroomApp): string {
  const { storage, upload } = app.spec;
  return JSON.stringify([app.metadata.namespace ?? '', storage, upload]);
}

export class BucketCorsMonitor {
  readonly #options: BucketCorsMonitorOptions;
  readonly #tracked = new Map<string, Tracked>();
  readonly #timer: NodeJS.Timeout;
  readonly #retries = new Map<string, NodeJS.Timeout>();
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: BucketCorsMonitorOptions) {
    this.#options = options;
    this.#timer = setInterval(() => {
      for (const name of this.#tracked.keys()) this.#enqueue(name);
    }, options.intervalMs ?? 600_000);
    this.#timer.unref();
  }

  /** The served apps changed: check new and changed ones, forget the rest. */
  update(apps: ReadonlyMap<string, DarkroomApp>): void {
    if (this.#stopped) return;
    for (const [name, tracked] of this.#tracked) {
      const app = apps.get(name);
      if (!app || !(app.spec.upload.allowedOrigins?.length ?? 0)) {
        this.#tracked.delete(name);
        this.#options.onVerdict(tracked.app, undefined);
      }
    }
    for (const [name, app] of apps) {
      if (!(app.spec.upload.allowedOrigins?.length ?? 0)) continue;
      const key = checkKey(app);
      const tracked = this.#tracked.get(name);
      if (tracked && tracked.key === key) {
        tracked.app = app;
        continue;
      }
      this.#tracked.set(name, { app, key, verdict: undefined });
      this.#enqueue(name);
    }
  }

  /** The last verdict for an app, if it has been checked. */
  verdictFor(appName: string): CorsVerdict | undefined {
    return this.#tracked.get(appName)?.verdict;
  }

  /** Resolves when every check queued so far has finished (for tests and shutdown). */
  idle(): Promise<void> {
    return this.#queue;
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const retry of this.#retries.values()) clearTimeout(retry);
    this.#retries.clear();
  }

  #enqueue(name: string): void {
    this.#queue = this.#queue.then(() => this.#check(name));
  }

  async #check(name: string): Promise<void> {
    const tracked = this.#tracked.get(name);
    if (!tracked || this.#stopped) return;
    const { app, key } = tracked;
    const verdict = await this.#verdictOf(app);
    // The app changed or went away while its bucket was being read: that newer state decides.
    if (this.#stopped || this.#tracked.get(name) !== tracked || tracked.key !== key) return;
    const previous = tracked.verdict;
    tracked.verdict = verdict;
    clearTimeout(this.#retries.get(name));
    this.#retries.delete(name);
    if (verdict.reason === 'CORSCheckFailed') {
      const intervalMs = this.#options.intervalMs ?? 600_000;
      const retry = setTimeout(() => {
        this.#retries.delete(name);
        this.#enqueue(name);
      }, Math.min(this.#options.failedRetryMs ?? 30_000, intervalMs));
      retry.unref();
      this.#retries.set(name, retry);
    }
    if (previous && previous.status === verdict.status && previous.reason === verdict.reason && previous.message === verdict.message) return;
    const log = verdict.status === 'True' ? this.#options.logger.info.bind(this.#options.logger) : this.#options.logger.warn.bind(this.#options.logger);
    log({ app: name, namespace: app.metadata.namespace, bucket: app.spec.storage.bucket, cors: verdict }, `bucket CORS for app "${name}": ${verdict.reason}`);
    this.#options.onVerdict(app, verdict);
  }

  async #verdictOf(app: DarkroomApp): Promise<CorsVerdict> {
    const origins = app.spec.upload.allowedOrigins ?? [];
    try {
      const provider = this.#options.storage.forApp(app);
      if (!provider.readCorsRules) {
        return { status: 'Unknown', reason: 'CORSCheckFailed', message: 'This storage provider cannot read bucket CORS rules.' };
      }
      // A probe signature (local CPU for S3; a signBlob call for a GCS identity without a key).
      const probe = await provider.presignUpload({
        key: `${app.spec.storage.prefix}darkroom-cors-probe.jpg`,
        contentType: 'image/jpeg',
        contentLength: 1,
        maxBytes: app.spec.upload.maxBytes,
        expiresInSeconds: 60,
      });
      const reading = await provider.readCorsRules({ signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000) });
      return corsVerdict(reading, { origins, method: 'PUT', headers: preflightHeaders(probe.headers) });
    } catch (error) {
      const detail = error instanceof Error ? error.message.slice(0, 200) : 'error';
      return { status: 'Unknown', reason: 'CORSCheckFailed', message: `The bucket's CORS rules could not be checked (${detail}); darkroom checks again later.` };
    }
  }
}
