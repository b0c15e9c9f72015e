/**
 * `CORSReady` in a DarkroomApp's `.status`, end to end: darkroom watches the fake API server, reads
 * the embedded S3 bucket's CORS configuration, writes the condition beside `Ready`, flips it when
 * the bucket is fixed (periodic re-check) and drops it when the app stops listing origins.
 */
import { PutBucketCorsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/storage/s3-client.js';
import { appDocument, fastTiming, kubeConfigFor, useFakeKube, waitFor } from '../support/kube-darkroom.js';
import { startStack } from '../support/stack.js';
import type { AppCondition } from '../../src/config/sources/kubernetes/app-status.js';

const kube = useFakeKube();
const origin = 'https://app.example.test';

type Condition = AppCondition;

function conditionsOf(namespace: string, name: string): Condition[] {
  const object = kube.fake.get(namespace, name) as { status?: { conditions?: Condition[] } } | undefined;
  return object?.status?.conditions ?? [];
}
const corsReady = (namespace: string, name: string) => conditionsOf(namespace, name).find((condition) => condition.type === 'CORSReady');

describe('CORSReady', () => {
  it('reports the bucket CORS verdict beside Ready, follows a fixed bucket, and goes with the origins', async () => {
    const stack = kube.track(
      await startStack({
        appsYaml: '',
        buckets: ['test-bucket'],
        corsAllowedOrigins: [],
        env: { DARKROOM_APPS_FILE: '', POD_NAMESPACE: 'team-a', POD_NAME: 'darkroom-0' },
        start: { kubernetes: { kubeConfig: kubeConfigFor(kube.fake, 'team-a'), timing: fastTiming }, corsCheckIntervalMs: 200 },
      }),
    );
    kube.fake.apply(appDocument('web', 'team-a', { upload: { allowedOrigins: [origin] } }));
    kube.fake.apply(appDocument('plain', 'team-a'));

    const missing = await waitFor(() => corsReady('team-a', 'web'), 'CORSReady on web');
    expect(missing).toMatchObject({ status: 'False', reason: 'NoCORSConfiguration', observedGeneration: 1 });
    expect(missing.message).toContain(origin);
    expect(conditionsOf('team-a', 'web').map((condition) => condition.type)).toEqual(['Ready', 'CORSReady']);
    await waitFor(() => conditionsOf('team-a', 'plain').length > 0, 'plain status');
    expect(conditionsOf('team-a', 'plain').map((condition) => condition.type)).toEqual(['Ready']);

    const client = createS3Client({ region: 'us-east-1', endpoint: stack.storage.endpoint, forcePathStyle: true, credentials: stack.credentials });
    await client.send(
      new PutBucketCorsCommand({ Bucket: 'test-bucket', CORSConfiguration: { CORSRules: [{ AllowedOrigins: [origin], AllowedMethods: ['PUT'], AllowedHeaders: ['*'] }] } }),
    );
    const fixed = await waitFor(() => (corsReady('team-a', 'web')?.status === 'True' ? corsReady('team-a', 'web') : undefined), 'CORSReady=True');
    expect(fixed.reason).toBe('CORSRulesMatch');
    expect(Date.parse(fixed.lastTransitionTime)).toBeGreaterThanOrEqual(Date.parse(missing.lastTransitionTime));

    kube.fake.apply(appDocument('web', 'team-a'));
    await waitFor(() => corsReady('team-a', 'web') === undefined && conditionsOf('team-a', 'web').length === 1, 'CORSReady removed');
  });
});
