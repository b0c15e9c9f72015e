/**
 * GCS failures translated into storage faults, at the provider's edge (see `StorageFault`): a
 * missing object is `not_found`, a missing bucket `bucket_missing`, a 403 `access_denied`;
 * everything else (network, 5xx, throttling, refused credentials, a signBlob call that failed or
 * took too long) `unavailable`.
 */
import type { DarkroomError } from '../core/errors.js';
import { storageError, type StorageFault } from './storage-provider.js';

/** An error status from the JSON API, with its parsed error body (if any). */
export class GcsStatusError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
  ) {
    super(`GCS answered ${status}${messageOf(detail) ? `: ${messageOf(detail)}` : ''}`);
    this.name = 'GcsStatusError';
  }
}

export function translateGcsError(error: unknown): DarkroomError {
  return storageError(error, gcsFaultOf(error));
}

function gcsFaultOf(error: unknown): StorageFault {
  // Our reader's GcsStatusError carries the status; the library's ApiError carries it in `code`;
  // network errors carry a string code (ECONNREFUSED).
  const status = error instanceof GcsStatusError ? error.status : (error as { code?: unknown } | undefined)?.code;
  const detail = error instanceof GcsStatusError ? error.detail : undefined;
  // GCS says "The specified bucket does not exist." of a missing bucket, "No such object: b/k" of a key.
  if (status === 404) return /specified bucket does not exist/i.test(messageOf(detail) ?? '') ? 'bucket_missing' : 'not_found';
  if (status === 403) return 'access_denied';
  return 'unavailable';
}

/** The `error.message` of a JSON API error body. */
function messageOf(detail: unknown): string | undefined {
  const message = (detail as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof message === 'string' ? message.slice(0, 200) : undefined;
}

/**
 * Resolves with `work`, or rejects with STORAGE_UNAVAILABLE after `timeoutMs`. Bounds calls the
 * library offers no abort for (IAM signBlob during URL signing); the call itself is left to finish
 * or fail in the background, its result ignored.
 */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(storageError(new Error(`${what} took longer than ${timeoutMs} ms`), 'timeout')), timeoutMs);
  });
  // A late rejection of the abandoned call must not surface as an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
