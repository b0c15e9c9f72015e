/**
 * Builds S3 clients with the settings darkroom relies on. Kept apart from the provider so the
 * provider receives a ready client (and tests can hand it one).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/** Where and how to reach one S3 (or S3-compatible) service. */
export interface S3ClientOptions {
  /** Default: the SDK's ambient region (`AWS_REGION`), else us-east-1. */
  readonly region: string | undefined;
  /** An S3-compatible endpoint; absent means AWS. */
  readonly endpoint: string | undefined;
  /** Bucket in the path rather than the host name. Default: true when an endpoint is set. */
  readonly forcePathStyle: boolean | undefined;
  /** Explicit credentials; absent means the SDK's default chain (env, IRSA, instance role). */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Socket inactivity timeout, in ms (bounds a body that stops arriving). Default 15 000. */
  readonly requestTimeoutMs?: number;
}

/** Connect timeout: a storage endpoint that does not accept a connection is down. */
const connectionTimeoutMs = 2_000;
/** Socket inactivity timeout: bounds a read from a storage service that stopped answering. */
const defaultRequestTimeoutMs = 15_000;

export function createS3Client(options: S3ClientOptions): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: 256 };
  return new S3Client({
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials: options.credentials,
    // SDK ≥ 3.729 adds a CRC32 of the (empty) body to presigned PUTs, which breaks browser
    // uploads; compute checksums only where an operation requires one (aws-sdk-js-v3#6810).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs ?? defaultRequestTimeoutMs,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    }),
  });
}
