/**
 * Reads an S3 bucket's CORS configuration (`GetBucketCors`, IAM action `s3:GetBucketCORS`) as
 * storage-neutral rules. A bucket with none answers `NoSuchCORSConfiguration`; an identity without
 * the permission `AccessDenied` (403). Neither is a failure of darkroom: both are verdicts.
 */
import { GetBucketCorsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BucketCorsReading } from '../core/bucket-cors.js';

export async function readS3BucketCors(client: S3Client, bucket: string, signal?: AbortSignal): Promise<BucketCorsReading> {
  try {
    const output = await client.send(new GetBucketCorsCommand({ Bucket: bucket }), { abortSignal: signal });
    const rules = (output.CORSRules ?? []).map((rule) => ({
      origins: rule.AllowedOrigins ?? [],
      methods: rule.AllowedMethods ?? [],
      headers: rule.AllowedHeaders ?? [],
    }));
    return rules.length === 0 ? { state: 'none' } : { state: 'rules', rules };
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
    if (name === 'NoSuchCORSConfiguration') return { state: 'none' };
    if (name === 'AccessDenied' || status === 403) return { state: 'forbidden', detail: `GetBucketCors: ${name || 'HTTP 403'}` };
    return { state: 'unavailable', detail: `GetBucketCors: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}` };
  }
}
