/** Helpers shared by the read-path integration tests: the real parts, uploads straight to the bucket, metric reads. */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import type { Counter, Gauge } from 'prom-client';
import type { DarkroomMetrics } from '../../src/metrics/metrics.js';
import { startNginxCdn, type NginxCdn } from '../support/nginx-cdn.js';
import { freePort, startStack, type Stack } from '../support/stack.js';

/** The real parts of a read test: darkroom and the embedded S3, nginx as the CDN, a client on the bucket. */
export interface ReadStack {
  readonly stack: Stack;
  readonly cdn: NginxCdn;
  readonly s3: S3Client;
  /** Stops all of them. */
  close(): Promise<void>;
}

/**
 * Starts darkroom serving `appsYaml(cdnPort)` over the bucket, and nginx as the CDN on `cdnPort` in
 * front of it. nginx needs the storage origin and darkroom needs nginx's port: the port is fixed first.
 */
export async function startReadStack(bucket: string, appsYaml: (cdnPort: number) => string, env: Record<string, string> = {}): Promise<ReadStack> {
  const port = await freePort();
  const stack = await startStack({ appsYaml: appsYaml(port), buckets: [bucket], env });
  let cdn: NginxCdn;
  try {
    cdn = await startNginxCdn({ origin: stack.storage.origin, bucket, port });
  } catch (error) {
    await stack.close();
    throw error;
  }
  const s3 = bucketClient(stack);
  return {
    stack,
    cdn,
    s3,
    async close() {
      s3.destroy();
      await cdn.close();
      await stack.close();
    },
  };
}

/** An S3 client on the embedded S3, signed like a client holding a presigned URL would be. */
export function bucketClient(stack: Stack): S3Client {
  return new S3Client({
    endpoint: stack.storage.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: stack.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

/** A fresh well-formed image key `{32 hex}-{name}`. */
export function freshKey(name = 'photo.jpg'): string {
  return `${randomBytes(16).toString('hex')}-${name}`;
}

export async function putObject(client: S3Client, bucket: string, objectKey: string, body: Buffer, contentType: string): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey, Body: body, ContentType: contentType }));
}

/** The current value of one labelled series (0 when it does not exist yet). */
export async function metricValue<T extends string>(metric: Counter<T> | Gauge<T>, labels: Partial<Record<T, string>>): Promise<number> {
  const { values } = await metric.get();
  const entries = Object.entries(labels) as [string, string][];
  return values.filter((value) => entries.every(([name, wanted]) => (value.labels as Record<string, string | number | undefined>)[name] === wanted)).reduce((sum, value) => sum + value.value, 0);
}

/** Transforms `app`'s variants took so far: the count of the transform-duration histogram. */
export async function transformCount(metrics: DarkroomMetrics, app: string): Promise<number> {
  const { values } = await metrics.variantTransformDuration.get();
  return values.filter((value) => value.metricName === 'darkroom_variant_transform_duration_seconds_count' && value.labels.app === app).reduce((sum, value) => sum + value.value, 0);
}
