/**
 * Minimal ambient types for s3rver 3.x (a CommonJS package without typings), covering only what
 * embedded-s3.ts uses.
 */
declare module 's3rver' {
  import type { Server } from 'node:http';
  import type { AddressInfo } from 'node:net';

  /** A bucket created at start-up; `configs` are CORSConfiguration / WebsiteConfiguration XML documents. */
  interface S3rverBucket {
    name: string;
    configs?: Array<string | Buffer>;
  }

  interface S3rverOptions {
    /** Listen address; s3rver's default is `localhost`. */
    address?: string;
    /** Listen port; 0 picks a free one. s3rver's default is 4568. */
    port?: number;
    silent?: boolean;
    /** Where objects are stored on disk. */
    directory?: string;
    resetOnClose?: boolean;
    /** Treat non-IP, non-localhost Host names as virtual-host bucket names; default true. */
    vhostBuckets?: boolean;
    serviceEndpoint?: string;
    allowMismatchedSignatures?: boolean;
    configureBuckets?: S3rverBucket[];
  }

  class S3rver {
    constructor(options?: S3rverOptions);
    /** Creates the configured buckets, then listens. */
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
    reset(): void;
    /** Set by run(). */
    httpServer?: Server;
  }

  export default S3rver;
}

/**
 * s3rver's access-key registry. s3rver refuses signed requests whose access key it does not know
 * (it only knows `S3RVER`), so keys verified in front of it are registered here.
 */
declare module 's3rver/lib/models/account.js' {
  class AWSAccount {
    constructor(accountId: number, displayName: string);
    createKeyPair(accessKeyId: string, secretAccessKey: string): void;
    revokeAccessKey(accessKeyId: string): void;
    static registry: Map<string, AWSAccount>;
  }
  namespace AWSAccount {
    /** The account s3rver attributes every request to. */
    const DUMMY_ACCOUNT: AWSAccount;
  }
  export = AWSAccount;
}
