/**
 * Starts the real parts a test needs: the embedded S3 (s3rver behind the SigV4 verifier) on a free
 * loopback port and darkroom in-process on free ports, configured from an apps YAML text.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadSettings } from '../../src/config/settings.js';
import { startDarkroom, type RunningDarkroom, type StartOptions } from '../../src/darkroom.js';
import { startEmbeddedS3 } from '../../src/devstorage/embedded-s3.js';
import { createLogger } from '../../src/logging/logger.js';

export interface Stack {
  readonly darkroom: RunningDarkroom;
  /** `origin`: s3rver without the verifier, for a CDN stand-in (nginx) in front of the bucket. */
  readonly storage: { endpoint: string; origin: { host: string; port: number }; close(): Promise<void> };
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly appsFile: string;
  /** Every log line darkroom wrote, parsed. */
  readonly logLines: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface StackOptions {
  readonly appsYaml: string;
  readonly buckets?: string[];
  readonly env?: Record<string, string>;
  readonly start?: Omit<StartOptions, 'logger'>;
  /** Origins the embedded storage's CORS rule allows (browser tests); default `['*']`. */
  readonly corsAllowedOrigins?: string[];
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-test-'));
  const appsFile = join(dir, 'apps.yaml');
  await writeFile(appsFile, options.appsYaml);
  const credentials = { accessKeyId: `TEST${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
  const storage = await startEmbeddedS3({
    buckets: options.buckets ?? ['test-bucket'],
    credentials,
    host: '127.0.0.1',
    port: 0,
    ...(options.corsAllowedOrigins ? { corsAllowedOrigins: options.corsAllowedOrigins } : {}),
  });
  // The S3 SDK's default chain reads these, as it reads a pod's identity in production.
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
  process.env.AWS_REGION = 'us-east-1';

  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const settings = loadSettings({
    PORT: '0',
    ADMIN_PORT: '0',
    HOST: '127.0.0.1',
    DARKROOM_APPS_FILE: appsFile,
    DARKROOM_S3_ENDPOINT: storage.endpoint,
    DARKROOM_PUBLIC_BASE_URL: 'https://img.example.test',
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const darkroom = await startDarkroom(settings, { ...options.start, logger: createLogger('info', sink) });
  return {
    darkroom,
    storage,
    credentials,
    appsFile,
    logLines,
    async close() {
      await darkroom.close();
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export { freePort } from './ports.js';

/** A minimal app document for tests. */
export function appYaml(name: string, spec: string): string {
  return `apiVersion: darkroom.dev/v1alpha1\nkind: DarkroomApp\nmetadata:\n  name: ${name}\nspec:\n${spec
    .trim()
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n')}\n`;
}
