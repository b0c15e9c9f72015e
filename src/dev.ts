/**
 * `npm run dev`: darkroom on its embedded default, with no cloud account, cluster or Redis.
 *
 * Starts an S3-protocol server (s3rver behind a SigV4-verifying layer, so a URL S3 would refuse
 * is refused here too) on a free port, creates the buckets the apps file names, then starts
 * darkroom through the same composition root as production: the storage is reached through the
 * S3 SDK's ambient configuration (`DARKROOM_S3_ENDPOINT` and `AWS_*` credentials), apps come from
 * `examples/apps.yaml`, limits are in memory.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseAppsYaml } from './config/sources/file-source.js';
import { loadSettings } from './config/settings.js';
import { startDarkroom } from './darkroom.js';
import { startEmbeddedS3 } from './devstorage/embedded-s3.js';

async function dev(): Promise<void> {
  const env = { ...process.env };
  env.DARKROOM_APPS_FILE ??= 'examples/apps.yaml';
  env.PORT ??= '8080';
  env.ADMIN_PORT ??= '9090';
  env.DARKROOM_PUBLIC_BASE_URL ??= `http://localhost:${env.PORT}`;
  // The try-it page at `/`: on in development, off by default everywhere else.
  env.DARKROOM_DEMO_PAGE ??= 'on';

  // Fresh credentials every run: nothing secret is committed, and the verifier knows them.
  const credentials = { accessKeyId: `DEV${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
  const storage = await startEmbeddedS3({
    buckets: await bucketsOf(env.DARKROOM_APPS_FILE),
    credentials,
    host: '127.0.0.1',
    port: Number(env.DARKROOM_DEV_S3_PORT ?? 0),
    directory: env.DARKROOM_DEV_STORAGE_DIR,
    corsAllowedOrigins: ['*'],
    // The region darkroom's S3 clients sign for when an app names none (see s3-client.ts).
    region: env.AWS_REGION ?? 'us-east-1',
  });
  env.DARKROOM_S3_ENDPOINT ??= storage.endpoint;
  // The S3 SDK's default credential chain reads these, exactly as it reads a pod's in production.
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
  process.env.AWS_REGION ??= 'us-east-1';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;

  const darkroom = await startDarkroom(loadSettings(env));
  darkroom.logger.info({ storage: storage.endpoint }, 'embedded storage (s3rver behind a SigV4 verifier) ready');
  process.stdout.write(
    `\ndarkroom dev is up: ${darkroom.url}  (metrics: ${darkroom.adminUrl}/metrics, storage: ${storage.endpoint})\n` +
      (env.DARKROOM_DEMO_PAGE === 'on' ? `try it in a browser: ${darkroom.url}/\n\n` : '\n'),
  );
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void darkroom
        .close()
        .then(() => storage.close())
        .then(() => process.exit(0));
    });
  }
}

/** Buckets of the S3 apps that use the embedded storage (those naming no endpoint of their own). */
async function bucketsOf(appsFile: string): Promise<string[]> {
  const buckets = new Set<string>();
  for (const { result } of parseAppsYaml(await readFile(appsFile, 'utf8'), appsFile)) {
    if (result.ok && result.app.spec.storage.provider === 's3' && !result.app.spec.storage.endpoint) {
      buckets.add(result.app.spec.storage.bucket);
    }
  }
  return [...buckets];
}

dev().catch((error: unknown) => {
  process.stderr.write(`darkroom dev: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
