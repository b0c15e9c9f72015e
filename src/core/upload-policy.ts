/**
 * An app's upload policy as pure decisions over plain data: which extensions it takes and how
 * large a file may be. The HTTP route calls these in the order DESIGN.md fixes.
 */
import type { ErrorCode } from './errors.js';

/** The policy-relevant part of an app's spec. */
export interface UploadPolicy {
  readonly allowPublicUpload: boolean;
  readonly allowedExtensions: readonly string[];
  readonly maxBytes: number;
  /**
   * Whether the request must declare its size: S3 enforces the limit by signing the exact
   * Content-Length the client declared, so S3 apps need it (unless `upload.requireSize: false`);
   * GCS signs a length range and does not.
   */
  readonly sizeRequired: boolean;
}

/** What the client asked to upload. */
export interface UploadIntent {
  readonly extension: string;
  readonly size: number | undefined;
}

/** The first policy rule the intent breaks, or undefined when it may proceed. */
export function checkUploadPolicy(policy: UploadPolicy, intent: UploadIntent): ErrorCode | undefined {
  if (!policy.allowPublicUpload) return 'PUBLIC_UPLOAD_DISABLED';
  if (!policy.allowedExtensions.includes(intent.extension)) return 'EXTENSION_NOT_ALLOWED';
  if (intent.size === undefined) return policy.sizeRequired ? 'SIZE_REQUIRED' : undefined;
  if (intent.size > policy.maxBytes) return 'FILE_TOO_LARGE';
  return undefined;
}
