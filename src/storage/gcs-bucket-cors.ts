/**
 * Reads a GCS bucket's CORS configuration (the bucket resource's `cors` field, JSON API
 * `buckets.get`, IAM permission `storage.buckets.get`) as storage-neutral rules. GCS answers a
 * preflight's requested headers from `responseHeader`, so those are the rule's allowed headers.
 */
import type { Bucket } from '@google-cloud/storage';
import type { BucketCorsReading } from '../core/bucket-cors.js';
import { withDeadline } from './gcs-errors.js';

export async function readGcsBucketCors(bucket: Bucket, timeoutMs: number): Promise<BucketCorsReading> {
  try {
    const [metadata] = await withDeadline(bucket.getMetadata(), timeoutMs, 'Reading the bucket metadata');
    const rules = (metadata.cors ?? []).map((rule) => ({
      origins: rule.origin ?? [],
      methods: rule.method ?? [],
      headers: rule.responseHeader ?? [],
    }));
    return rules.length === 0 ? { state: 'none' } : { state: 'rules', rules };
  } catch (error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (code === 403 || code === 401) return { state: 'forbidden', detail: `buckets.get: HTTP ${String(code)}` };
    return { state: 'unavailable', detail: `buckets.get: ${typeof code === 'number' ? `HTTP ${code}` : error instanceof Error ? error.message.slice(0, 200) : 'error'}` };
  }
}
