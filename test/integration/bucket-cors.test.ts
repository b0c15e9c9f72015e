/**
 * The bucket CORS check against real storage: the embedded S3 (s3rver behind the SigV4 verifier)
 * answers GetBucketCors like S3 (`NoSuchCORSConfiguration` for a bucket without rules, the rules
 * PutBucketCors stored otherwise, 403 for a refused identity). The verdicts are the ones the
 * `CORSReady` condition carries; the headers required are those darkroom's presigner signs.
 */
import { PutBucketCorsCommand, type CORSRule } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDarkroomApp, type DarkroomApp } from '../../src/config/darkroom-app.js';
import { corsVerdict, preflightHeaders } from '../../src/core/bucket-cors.js';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/devstorage/embedded-s3.js';
import { BucketCorsMonitor } from '../../src/storage/bucket-cors-monitor.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { S3StorageProvider } from '../../src/storage/s3-storage-provider.js';
import type { CorsVerdict } from '../../src/core/bucket-cors.js';

const origin = 'https://app.example.test';
const credentials = { accessKeyId: `TEST${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
let s3: EmbeddedS3;

beforeAll(async () => {
  // No CORS rule is configured up front: each test writes the bucket's rules with PutBucketCors.
  s3 = await startEmbeddedS3({ buckets: ['no-cors', 'partial-cors', 'full-cors', 'changing-cors'], credentials, corsAllowedOrigins: [] });
});
afterAll(async () => {
  await s3?.close();
});

const client = () => createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials });
const provider = (bucket: string) => new S3StorageProvider(client(), bucket);

async function putCors(bucket: string, rules: CORSRule[]): Promise<void> {
  await client().send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: rules } }));
}

function app(bucket: string): DarkroomApp {
  const parsed = parseDarkroomApp({
    apiVersion: 'darkroom.dev/v1alpha1',
    kind: 'DarkroomApp',
    metadata: { name: bucket },
    spec: { allowPublicUpload: true, storage: { provider: 's3', bucket }, upload: { allowedOrigins: [origin] } },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.app;
}

/** The headers the presigner signs today, as a browser's preflight names them. */
async function signedPreflightHeaders(bucket: string): Promise<string[]> {
  const probe = await provider(bucket).presignUpload({ key: 'probe.jpg', contentType: 'image/jpeg', contentLength: 1, maxBytes: 10, expiresInSeconds: 60 });
  return preflightHeaders(probe.headers);
}

/** The measured verdicts, printed for docs/browser-uploads.md. */
const measured: Record<string, CorsVerdict> = {};
afterAll(() => console.log(`bucket CORS verdicts: ${JSON.stringify(measured, null, 2)}`));

describe('GetBucketCors on the embedded S3', () => {
  it('answers NoSuchCORSConfiguration for a bucket without rules: NoCORSConfiguration', async () => {
    const reading = await provider('no-cors').readCorsRules();
    expect(reading).toEqual({ state: 'none' });
    const verdict = corsVerdict(reading, { origins: [origin], method: 'PUT', headers: await signedPreflightHeaders('no-cors') });
    measured['no CORS'] = verdict;
    expect(verdict).toMatchObject({ status: 'False', reason: 'NoCORSConfiguration' });
    expect(verdict.message).toContain(origin);
  });

  it('returns the rules PutBucketCors stored, and names the header a rule lacks (If-None-Match)', async () => {
    await putCors('partial-cors', [{ AllowedOrigins: [origin], AllowedMethods: ['PUT'], AllowedHeaders: ['Content-Type'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 600 }]);
    const reading = await provider('partial-cors').readCorsRules();
    expect(reading).toEqual({ state: 'rules', rules: [{ origins: [origin], methods: ['PUT'], headers: ['Content-Type'] }] });
    // The presigner signs If-None-Match (uploads never overwrite), so a rule that allows only
    // Content-Type is incomplete, and the verdict names the missing header.
    const signed = await signedPreflightHeaders('partial-cors');
    expect(signed).toEqual(expect.arrayContaining(['content-type', 'if-none-match']));
    const verdict = corsVerdict(reading, { origins: [origin], method: 'PUT', headers: signed });
    measured['CORS missing If-None-Match'] = verdict;
    expect(verdict).toMatchObject({ status: 'False', reason: 'CORSRulesIncomplete' });
    expect(verdict.message).toContain(`the rule allowing PUT from ${origin} does not allow header if-none-match`);
  });

  it('accepts a rule with the origin, PUT and every signed header', async () => {
    await putCors('full-cors', [{ AllowedOrigins: [origin], AllowedMethods: ['PUT'], AllowedHeaders: ['Content-Type', 'If-None-Match'], MaxAgeSeconds: 600 }]);
    const reading = await provider('full-cors').readCorsRules();
    const verdict = corsVerdict(reading, { origins: [origin], method: 'PUT', headers: await signedPreflightHeaders('full-cors') });
    measured['correct CORS'] = verdict;
    expect(verdict).toMatchObject({ status: 'True', reason: 'CORSRulesMatch' });
  });

  it('reports a refused read (403) as forbidden, not as an error', async () => {
    const refused = new S3StorageProvider(
      createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { ...credentials, secretAccessKey: 'not-the-secret' } }),
      'full-cors',
    );
    const reading = await refused.readCorsRules();
    expect(reading).toMatchObject({ state: 'forbidden' });
    measured['read refused'] = corsVerdict(reading, { origins: [origin], method: 'PUT', headers: ['content-type'] });
    expect(measured['read refused']).toMatchObject({ status: 'Unknown', reason: 'CORSCheckForbidden' });
  });
});

describe('BucketCorsMonitor', () => {
  it('re-tries a check that could not run (credentials not there yet) after failedRetryMs, not in a loop', async () => {
    const target = app('full-cors');
    let builds = 0;
    const verdicts: (CorsVerdict | undefined)[] = [];
    const monitor = new BucketCorsMonitor({
      // The first build fails as the S3 builder does while the app's credentials Secret is unread.
      storage: {
        forApp: () => {
          builds += 1;
          if (builds === 1) throw new Error('The credentials Secret has not been read yet.');
          return provider('full-cors');
        },
      },
      logger: pino({ level: 'silent' }),
      intervalMs: 60_000,
      failedRetryMs: 50,
      onVerdict: (_app, verdict) => verdicts.push(verdict),
    });
    try {
      monitor.update(new Map([[target.metadata.name, target]]));
      await monitor.idle();
      expect(monitor.verdictFor('full-cors')).toMatchObject({ status: 'Unknown', reason: 'CORSCheckFailed' });
      for (let i = 0; i < 100 && monitor.verdictFor('full-cors')?.status !== 'True'; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(verdicts.map((verdict) => verdict?.reason)).toEqual(['CORSCheckFailed', 'CORSRulesMatch']);
      // A success schedules nothing more before the interval.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(builds).toBe(2);
    } finally {
      monitor.stop();
    }
  });

  it('checks an app when it appears, re-checks periodically, and reports only changes', async () => {
    const verdicts: (CorsVerdict | undefined)[] = [];
    const target = app('changing-cors');
    const monitor = new BucketCorsMonitor({
      storage: { forApp: () => provider('changing-cors') },
      logger: pino({ level: 'silent' }),
      intervalMs: 100,
      onVerdict: (_app, verdict) => verdicts.push(verdict),
    });
    try {
      monitor.update(new Map([[target.metadata.name, target]]));
      await monitor.idle();
      expect(monitor.verdictFor('changing-cors')).toMatchObject({ status: 'False', reason: 'NoCORSConfiguration' });
      // Someone fixes the bucket: the next periodic check sees it.
      await putCors('changing-cors', [{ AllowedOrigins: [origin], AllowedMethods: ['PUT'], AllowedHeaders: ['*'] }]);
      for (let i = 0; i < 100 && monitor.verdictFor('changing-cors')?.status !== 'True'; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(monitor.verdictFor('changing-cors')).toMatchObject({ status: 'True', reason: 'CORSRulesMatch' });
      // Several periodic checks with the same result report nothing new.
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect(verdicts.map((verdict) => verdict?.reason)).toEqual(['NoCORSConfiguration', 'CORSRulesMatch']);
      // The app stops listing origins: its condition is withdrawn.
      const withoutOrigins = { ...target, spec: { ...target.spec, upload: { ...target.spec.upload, allowedOrigins: [] } } };
      monitor.update(new Map([[target.metadata.name, withoutOrigins]]));
      expect(verdicts.at(-1)).toBeUndefined();
      expect(monitor.verdictFor('changing-cors')).toBeUndefined();
    } finally {
      monitor.stop();
    }
  });
});
