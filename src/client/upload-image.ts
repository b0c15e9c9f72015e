/**
 * darkroom's upload client, for browsers (and any runtime with `fetch`): ask darkroom for a
 * presigned URL, PUT the file straight to storage with exactly the headers darkroom returned, and
 * hand back the image's public URL. No dependencies: `fetch` for darkroom, `XMLHttpRequest` for
 * the PUT where it exists (the only browser API that reports upload progress), `fetch` otherwise.
 *
 * A `429 RATE_LIMITED` is retried after its `Retry-After`, within `maxRateLimitRetries` and
 * `maxRetryAfterSeconds`; every other refusal becomes a typed error at once.
 *
 * Written in erasable TypeScript only (no enums, namespaces or parameter properties), so that
 * stripping the types gives the browser module darkroom serves (`/demo-page/client/*.js`).
 */
import {
  DarkroomUnavailableError,
  RateLimitedError,
  StorageUploadError,
  UploadAbortedError,
  UploadError,
  UploadRefusedError,
} from './errors.js';

/** What to upload: a `File`, or a `Blob` with the name given in `options.fileName`. */
export interface UploadFile {
  readonly size: number;
  readonly type: string;
  readonly name?: string;
}

/** Upload progress, in bytes of the PUT body. */
export interface UploadProgress {
  readonly loaded: number;
  readonly total: number;
  /** `loaded / total`, 0 to 1. */
  readonly fraction: number;
}

export interface UploadImageOptions {
  /** darkroom's public base URL, e.g. `https://img.example.com` (no trailing path). */
  readonly baseURL: string;
  /** The app (`DarkroomApp` name). */
  readonly app: string;
  /** The owner id (`X-Owner-Id`), for apps whose gateway does not set it (development, trusted clients). */
  readonly owner?: string;
  /** A bearer token (`Authorization: Bearer …`), for apps that authenticate uploaders by JWT. */
  readonly token?: string;
  /** The file name darkroom builds the key from; default `file.name`. */
  readonly fileName?: string;
  /** Called as the PUT body is sent (only with XMLHttpRequest; once at the end otherwise). */
  readonly onProgress?: (progress: UploadProgress) => void;
  /** Aborts the presign request, a retry wait and the PUT. */
  readonly signal?: AbortSignal;
  /** How many `429`s are waited out and retried. Default 2. */
  readonly maxRateLimitRetries?: number;
  /** Longest `Retry-After` waited for, in seconds; a longer one fails at once. Default 30. */
  readonly maxRetryAfterSeconds?: number;
  /** The `fetch` to use; default the global one. */
  readonly fetch?: typeof fetch;
}

/** darkroom's answer to a presign request (`data`): exactly how to use the URL. */
export interface UploadGrant {
  /** Signed storage URL; a short-lived credential. */
  readonly uploadURL: string;
  readonly publicURL: string;
  readonly key: string;
  readonly method: 'PUT';
  /** Headers the PUT must carry byte for byte. */
  readonly headers: Readonly<Record<string, string>>;
  /** ISO 8601 instant storage stops accepting the URL. */
  readonly expiresAt: string;
}

/** What `uploadImage` resolves with. */
export interface UploadResult {
  /** The stable public URL the image is served at. */
  readonly publicURL: string;
  /** The image key (`{id}-{name}`). */
  readonly key: string;
}

/** Headers a page may not set on a request; the browser sends them itself. */
const browserOwnedHeaders = new Set(['content-length', 'host']);

/** Presigns, PUTs with the returned headers, and returns the public URL and key. */
export async function uploadImage(file: UploadFile & Blob, options: UploadImageOptions): Promise<UploadResult> {
  const grant = await presignUpload(file, options);
  await putToStorage(file, grant, options);
  return { publicURL: grant.publicURL, key: grant.key };
}

/** Asks darkroom for an upload URL, waiting out `429`s within the options' bounds. */
export async function presignUpload(file: UploadFile, options: UploadImageOptions): Promise<UploadGrant> {
  const maxRetries = options.maxRateLimitRetries ?? 2;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await presignOnce(file, options);
    } catch (error) {
      const wait = error instanceof RateLimitedError ? error.retryAfterSeconds : undefined;
      if (wait === undefined || attempt >= maxRetries || wait > (options.maxRetryAfterSeconds ?? 30)) throw error;
      await sleep(wait * 1000, options.signal);
    }
  }
}

async function presignOnce(file: UploadFile, options: UploadImageOptions): Promise<UploadGrant> {
  const name = options.fileName ?? file.name;
  if (!name) throw new UploadError('The file has no name: pass options.fileName.', { code: 'INVALID_FILE_NAME', source: 'client' });
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (options.owner !== undefined) headers['X-Owner-Id'] = options.owner;
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  const body: Record<string, unknown> = { file: name, size: file.size };
  if (file.type) body.contentType = file.type;
  const url = `${options.baseURL.replace(/\/+$/, '')}/darkroom/${encodeURIComponent(options.app)}/v1/images/presigned-urls`;

  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, { method: 'POST', headers, body: JSON.stringify(body), signal: options.signal ?? null });
  } catch (error) {
    if (options.signal?.aborted) throw new UploadAbortedError(error);
    // A CORS refusal looks like this too: the browser hides the answer from the page.
    throw new UploadError('darkroom could not be reached (network error, or this origin is not in the app’s allowedOrigins).', {
      code: 'NETWORK_ERROR',
      source: 'network',
      cause: error,
    });
  }
  const json = (await response.json().catch(() => undefined)) as
    | { success?: boolean; data?: UploadGrant; error?: { code?: unknown; message?: unknown; requestId?: unknown } }
    | undefined;
  if (response.ok && json?.success === true && json.data && typeof json.data.uploadURL === 'string') return json.data;
  throw refusalOf(response, json?.error);
}

/** darkroom's error body as a typed error. */
function refusalOf(response: Response, error: { code?: unknown; message?: unknown; requestId?: unknown } | undefined): UploadError {
  const status = response.status;
  const code = typeof error?.code === 'string' ? error.code : 'BAD_ANSWER';
  const message = typeof error?.message === 'string' ? error.message : `darkroom answered HTTP ${status}.`;
  const requestId = typeof error?.requestId === 'string' ? error.requestId : (response.headers.get('X-Request-Id') ?? undefined);
  const retryAfter = Number(response.headers.get('Retry-After'));
  const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter >= 0 && response.headers.has('Retry-After') ? retryAfter : undefined;
  if (status === 429) return new RateLimitedError(message, { status, retryAfterSeconds, requestId });
  if (status >= 500) return new DarkroomUnavailableError(message, { code, status, retryAfterSeconds, requestId });
  if (status >= 400) return new UploadRefusedError(message, { code, status, requestId });
  return new UploadError(message, { code: 'BAD_ANSWER', source: 'darkroom', status, requestId });
}

/** PUTs the bytes to the signed URL with exactly the grant's headers (the browser adds Content-Length). */
export function putToStorage(file: Blob, grant: UploadGrant, options: Pick<UploadImageOptions, 'onProgress' | 'signal' | 'fetch'> = {}): Promise<void> {
  const headers = Object.entries(grant.headers).filter(([name]) => !browserOwnedHeaders.has(name.toLowerCase()));
  const Xhr = (globalThis as { XMLHttpRequest?: new () => XhrLike }).XMLHttpRequest;
  if (Xhr) return putWithXhr(new Xhr(), file, grant, headers, options);
  return putWithFetch(file, grant, headers, options);
}

/** The part of XMLHttpRequest the PUT uses (the project compiles without DOM types). */
interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: Blob): void;
  abort(): void;
  readonly status: number;
  readonly responseText: string;
  readonly upload: { onprogress: ((event: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}

function putWithXhr(xhr: XhrLike, file: Blob, grant: UploadGrant, headers: [string, string][], options: Pick<UploadImageOptions, 'onProgress' | 'signal'>): Promise<void> {
  return new Promise((resolve, reject) => {
    const { signal, onProgress } = options;
    if (signal?.aborted) return reject(new UploadAbortedError(signal.reason));
    const onAbort = () => xhr.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    xhr.open(grant.method, grant.uploadURL);
    for (const [name, value] of headers) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress({ loaded: event.loaded, total: event.total, fraction: event.total ? event.loaded / event.total : 1 });
    };
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(storageRefusal(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => {
      done();
      reject(new StorageUploadError('The upload could not reach storage (network error, or the bucket’s CORS rules do not allow this origin).', { code: 'NETWORK_ERROR', status: 0 }));
    };
    xhr.onabort = () => {
      done();
      reject(new UploadAbortedError(signal?.reason));
    };
    xhr.send(file);
  });
}

async function putWithFetch(file: Blob, grant: UploadGrant, headers: [string, string][], options: Pick<UploadImageOptions, 'onProgress' | 'signal' | 'fetch'>): Promise<void> {
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(grant.uploadURL, { method: grant.method, headers, body: file, signal: options.signal ?? null });
  } catch (error) {
    if (options.signal?.aborted) throw new UploadAbortedError(error);
    throw new StorageUploadError('The upload could not reach storage.', { code: 'NETWORK_ERROR', status: 0, cause: error });
  }
  const text = await response.text();
  if (!response.ok) throw storageRefusal(response.status, text);
  options.onProgress?.({ loaded: file.size, total: file.size, fraction: 1 });
}

/** Storage's XML error (`<Code>SignatureDoesNotMatch</Code>`) as a typed error. */
function storageRefusal(status: number, body: string): StorageUploadError {
  const code = /<Code>([^<]{1,64})<\/Code>/.exec(body)?.[1] ?? 'STORAGE_REFUSED';
  return new StorageUploadError(`Storage refused the upload: HTTP ${status} (${code}).`, { code, status });
}

/** Waits `ms`, or rejects with UploadAbortedError when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new UploadAbortedError(signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new UploadAbortedError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
