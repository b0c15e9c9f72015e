/**
 * GCS failures translated into the catalogue, at the provider's edge: a missing object is
 * IMAGE_NOT_FOUND; everything else (network, 5xx, throttling, refused credentials, a signBlob
 * call that failed or took too long) means "try again later".
 */
import type { DarkroomError } from '../core/errors.js';
import { storageError } from './storage-provider.js';

export function translateGcsError(error: unknown): DarkroomError {
  // ApiError carries the HTTP status in `code`; network errors carry a string code (ECONNREFUSED).
  return storageError(error, (error as { code?: unknown } | undefined)?.code === 404);
}

/**
 * Resolves with `work`, or rejects with STORAGE_UNAVAILABLE after `timeoutMs`. Bounds calls the
 * library offers no abort for (IAM signBlob during URL signing); the call itself is left to finish
 * or fail in the background, its result ignored.
 */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(storageError(new Error(`${what} took longer than ${timeoutMs} ms`), false)), timeoutMs);
  });
  // A late rejection of the abandoned call must not surface as an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
