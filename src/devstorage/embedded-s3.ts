/**
 * An "embedded S3" for development and tests: s3rver on a private loopback
 * port, with the SigV4-verifying proxy in front of it as the only way in.
 * What it accepts and refuses matches Amazon S3 for the requests darkroom
 * makes (presigned PUTs binding key, Content-Type and Content-Length; the
 * SDK's header-signed GET/HEAD/PUT), so behaviour seen locally holds on S3.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import AWSAccount from 's3rver/lib/models/account.js';
import { startVerifyingProxy, xmlEscape } from './verifying-proxy.js';
import type { VerifyingProxy } from './verifying-proxy.js';

/**
 * Which buckets to create: `bucket`, `buckets`, or both (duplicates are
 * created once). `buckets` serves callers that provision every bucket an apps
 * file names, which may be none.
 */
export type EmbeddedS3Buckets = { bucket: string; buckets?: string[] } | { bucket?: string; buckets: string[] };

/** Options for {@link startEmbeddedS3}. */
export type EmbeddedS3Options = EmbeddedS3Buckets & {
  /** The one access key requests must be signed with. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Address the S3 endpoint listens on; default `127.0.0.1`. */
  host?: string;
  /** Port of the S3 endpoint; default 0 (a free port). */
  port?: number;
  /** Where objects are kept; default a fresh temporary directory, removed on close. */
  directory?: string;
  /** Origins browsers may upload from and read with (each bucket's CORS rule); default `['*']`. */
  corsAllowedOrigins?: string[];
  /** The region requests must be signed for, as S3 insists on the bucket's; default `us-east-1`. */
  region?: string;
};

/** A running embedded S3. */
export interface EmbeddedS3 {
  /** The S3 endpoint (the verifying proxy), e.g. `http://127.0.0.1:PORT`; use path-style addressing. */
  endpoint: string;
  /** `options.bucket`, else the first of `options.buckets` (`''` when no bucket was asked for). */
  bucket: string;
  /** Every bucket created. */
  buckets: string[];
  /**
   * The unauthenticated origin (s3rver itself, behind no verifier), for a CDN stand-in in tests:
   * a CDN reaches a private bucket with its own privileged identity (CloudFront OAC), which this
   * address plays. Never hand it to darkroom. Path-style: `http://{host}:{port}/{bucket}/{key}`.
   */
  origin: { host: string; port: number };
  /** Stops the proxy and s3rver, and removes the directory if it was created here. */
  close(): Promise<void>;
}

// "Bucket naming rules" (Amazon S3 User Guide), the general-purpose bucket subset.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function assertBucketName(bucket: string): void {
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw new Error(`"${bucket}" is not a valid S3 bucket name`);
  }
}

/**
 * The bucket's CORS rule ("Configuring cross-origin resource sharing" in the
 * S3 User Guide): browsers at the allowed origins may PUT with any headers
 * (a presigned upload sends Content-Type) and GET/HEAD, and may read ETag.
 */
function corsConfigurationXml(origins: readonly string[]): string {
  const allowed = origins.map((o) => `<AllowedOrigin>${xmlEscape(o)}</AllowedOrigin>`).join('');
  return (
    '<CORSConfiguration><CORSRule>' +
    allowed +
    '<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>' +
    '<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds>' +
    '</CORSRule></CORSConfiguration>'
  );
}

/**
 * s3rver keeps its access keys in a process-wide registry and refuses keys it
 * does not know (it does not check SigV4 signatures, only the key id). The
 * proxy has verified the signature by the time s3rver sees a request, so the
 * key is registered for as long as some embedded S3 in the process uses it.
 */
const registeredKeys = new Map<string, number>();

function registerKey(accessKeyId: string, secretAccessKey: string): () => void {
  const users = registeredKeys.get(accessKeyId) ?? 0;
  if (users === 0) AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  registeredKeys.set(accessKeyId, users + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const remaining = (registeredKeys.get(accessKeyId) ?? 1) - 1;
    if (remaining > 0) {
      registeredKeys.set(accessKeyId, remaining);
    } else {
      registeredKeys.delete(accessKeyId);
      // Never revoke s3rver's own built-in key.
      if (accessKeyId !== 'S3RVER') AWSAccount.DUMMY_ACCOUNT.revokeAccessKey(accessKeyId);
    }
  };
}

/**
 * Starts s3rver (silent, on a free loopback port, with the bucket and its CORS
 * rule) and the verifying proxy in front of it on `host`:`port`.
 */
export async function startEmbeddedS3(options: EmbeddedS3Options): Promise<EmbeddedS3> {
  const buckets = [...new Set([...(options.bucket !== undefined ? [options.bucket] : []), ...(options.buckets ?? [])])];
  buckets.forEach(assertBucketName);
  const corsAllowedOrigins = options.corsAllowedOrigins ?? ['*'];
  // No origins means no CORS rule at all (S3 refuses a rule without AllowedOrigin).
  const configs = corsAllowedOrigins.length > 0 ? [corsConfigurationXml(corsAllowedOrigins)] : [];
  const ownsDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'darkroom-s3-')));
  const releaseKey = registerKey(options.credentials.accessKeyId, options.credentials.secretAccessKey);

  const storage = new S3rver({
    // s3rver is reachable only from this machine and only through the proxy.
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    // Path-style only: the Host header stays whatever the client signed, and
    // a host name such as `storage.local` must not be read as a bucket name.
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name, configs })),
  });

  let storageRunning = false;
  let proxy: VerifyingProxy | undefined;
  const cleanUp = async (): Promise<void> => {
    try {
      if (proxy) await proxy.close();
      if (storageRunning) {
        storage.httpServer?.closeAllConnections();
        await storage.close();
      }
    } finally {
      releaseKey();
      if (ownsDirectory) await rm(directory, { recursive: true, force: true });
    }
  };

  let originPort = 0;
  try {
    const address = await storage.run();
    originPort = address.port;
    storageRunning = true;
    proxy = await startVerifyingProxy({
      upstream: { host: '127.0.0.1', port: address.port },
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      credentials: [options.credentials],
      corsAllowedOrigins,
      ...(options.region !== undefined ? { region: options.region } : {}),
    });
  } catch (err) {
    await cleanUp();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    endpoint: proxy.url,
    bucket: buckets[0] ?? '',
    buckets,
    origin: { host: '127.0.0.1', port: originPort },
    close: () => (closing ??= cleanUp()),
  };
}
