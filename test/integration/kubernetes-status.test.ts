import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/settings.js';
import { startDarkroom } from '../../src/darkroom.js';
import { createLogger } from '../../src/logging/logger.js';
import { appDocument, fastTiming, kubeConfigFor, metricValue, presign, useFakeKube, waitFor } from '../support/kube-darkroom.js';
import { recordPropagation, writePropagationReport } from '../support/propagation.js';
import { freePort } from '../support/stack.js';
import type { AppCondition } from '../../src/config/sources/kubernetes/app-status.js';

const kube = useFakeKube();
afterAll(() => writePropagationReport('kubernetes-status'));

type Condition = AppCondition;

function readyOf(namespace: string, name: string): (Condition & { statusObservedGeneration?: number; generation: number }) | undefined {
  const object = kube.fake.get(namespace, name) as { metadata: { generation: number }; status?: { observedGeneration?: number; conditions?: Condition[] } } | undefined;
  const ready = object?.status?.conditions?.find((condition) => condition.type === 'Ready');
  return ready && { ...ready, statusObservedGeneration: object?.status?.observedGeneration, generation: object!.metadata.generation };
}

/** A presign's status and RateLimit-Policy header: which app's spec answered. */
async function presignPolicy(url: string, app: string): Promise<{ status: number; policy: string | null }> {
  const response = await fetch(`${url}/darkroom/${app}/v1/images/presigned-urls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-owner-id': 'owner-1' },
    body: JSON.stringify({ file: 'photo.jpg', size: 1000 }),
  });
  await response.body?.cancel();
  return { status: response.status, policy: response.headers.get('ratelimit-policy') };
}

const statusPatches = () => kube.fake.requests.filter((request) => request.method === 'PATCH' && request.path.endsWith('/status'));

describe('DarkroomApp status', () => {
  it('reports Ready=True for a valid app, with observedGeneration, as a merge patch on the status subresource', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start();
    const ready = await waitFor(() => readyOf('team-a', 'shop'), 'Ready condition');
    expect(ready).toMatchObject({ status: 'True', reason: 'AppServed', observedGeneration: 1, statusObservedGeneration: 1 });
    expect(statusPatches().every((request) => request.contentType === 'application/merge-patch+json' && request.query.fieldManager === 'darkroom')).toBe(true);
    expect(await metricValue(stack.darkroom.adminUrl, 'darkroom_leader')).toBe(1);
  });

  it('refuses an invalid spec, reports Ready=False naming the field, and recovers when it is fixed', async () => {
    kube.fake.apply(appDocument('shop', 'team-a', { upload: { maxBytes: -5 } }));
    const stack = await kube.start();
    const { url } = stack.darkroom;
    expect((await presign(url, 'shop')).status).toBe(503);
    const invalid = await waitFor(() => readyOf('team-a', 'shop'), 'Ready=False');
    expect(invalid).toMatchObject({ status: 'False', reason: 'InvalidSpec', observedGeneration: 1 });
    expect(invalid.message).toContain('spec.upload.maxBytes');

    const started = performance.now();
    kube.fake.apply(appDocument('shop', 'team-a', { upload: { maxBytes: 5000 } }));
    await waitFor(async () => (await presign(url, 'shop')).status === 200, 'fixed app served');
    recordPropagation('invalid → fixed', performance.now() - started);
    const fixed = await waitFor(() => {
      const ready = readyOf('team-a', 'shop');
      return ready?.status === 'True' ? ready : undefined;
    }, 'Ready=True');
    expect(fixed).toMatchObject({ reason: 'AppServed', observedGeneration: 2, statusObservedGeneration: 2, generation: 2 });
    expect(Date.parse(fixed.lastTransitionTime)).toBeGreaterThanOrEqual(Date.parse(invalid.lastTransitionTime));
  });

  it('writes status only when it changes', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start();
    await waitFor(() => readyOf('team-a', 'shop'), 'Ready condition');
    const writes = statusPatches().length;
    expect(writes).toBe(1);
    // A metadata-only change (no new generation) and a re-list replay the object: nothing to write.
    kube.fake.apply({ ...appDocument('shop', 'team-a'), metadata: { name: 'shop', namespace: 'team-a', labels: { team: 'a' } } });
    kube.fake.dropWatches();
    kube.fake.compact();
    await waitFor(async () => (await metricValue(stack.darkroom.adminUrl, 'darkroom_config_watch_relists_total')) === 2, 're-list');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(statusPatches()).toHaveLength(writes);
    expect(readyOf('team-a', 'shop')).toMatchObject({ status: 'True', observedGeneration: 1 });
  });

  it('retries a failed status write', async () => {
    kube.fake.inject({ method: 'PATCH', path: /\/status$/, status: 500, times: 2 });
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start();
    await waitFor(() => readyOf('team-a', 'shop'), 'Ready after retries');
    expect(await metricValue(stack.darkroom.adminUrl, 'darkroom_config_status_writes_total', 'outcome="error"')).toBe(2);
    expect(await metricValue(stack.darkroom.adminUrl, 'darkroom_config_status_writes_total', 'outcome="ok"')).toBe(1);
  });

  it('a name claimed in two namespaces: the oldest keeps serving, the later one is NameConflict naming it', async () => {
    // team-b's is created first, so it holds the name although "team-a" sorts first; a second
    // apart, because creation times have second precision on a real API server.
    kube.fake.apply(appDocument('shop', 'team-b', { rateLimit: { requests: 7, windowSeconds: 60 } }));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    kube.fake.apply(appDocument('shop', 'team-a'));
    kube.fake.apply(appDocument('blog', 'team-a'));
    const stack = await kube.start({ env: { DARKROOM_NAMESPACE: '*' } });
    const { url } = stack.darkroom;
    expect((await presign(url, 'blog')).status).toBe(200);
    const served = await presignPolicy(url, 'shop');
    expect(served.status).toBe(200);
    expect(served.policy).toBe('"upload";q=7;w=60'); // team-b's spec
    const winner = await waitFor(() => readyOf('team-b', 'shop'), 'Ready in team-b');
    expect(winner).toMatchObject({ status: 'True', reason: 'AppServed' });
    const loser = await waitFor(() => readyOf('team-a', 'shop'), 'NameConflict in team-a');
    expect(loser).toMatchObject({ status: 'False', reason: 'NameConflict' });
    expect(loser.message).toContain('DarkroomApp team-b/shop');
    expect(stack.darkroom.registry.lookup('shop')).toMatchObject({ state: 'served', app: { metadata: { namespace: 'team-b' } } });
    // A newer claimant cannot take the name over, not even by re-applying.
    kube.fake.apply(appDocument('shop', 'team-a', { rateLimit: { requests: 9, windowSeconds: 60 } }));
    await waitFor(() => readyOf('team-a', 'shop')?.observedGeneration === 2, 'status of the re-applied loser');
    expect(readyOf('team-a', 'shop')).toMatchObject({ status: 'False', reason: 'NameConflict' });
    expect((await presignPolicy(url, 'shop')).policy).toBe('"upload";q=7;w=60');
    // Once the owner goes, the other is served.
    kube.fake.delete('team-b', 'shop');
    await waitFor(async () => (await presignPolicy(url, 'shop')).policy === '"upload";q=9;w=60', 'team-a\'s shop served after the conflict ends');
    await waitFor(() => readyOf('team-a', 'shop')?.status === 'True', 'Ready=True after the conflict ends');
    expect(kube.fake.requests.some((request) => request.path === '/apis/darkroom.dev/v1alpha1/darkroomapps')).toBe(true);
  });

  it('the storage policy: an app outside its namespace\'s buckets is StorageNotAllowed and not served; own credentials are not restricted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'darkroom-policy-'));
    const policyFile = join(dir, 'storage-policy.yaml');
    await writeFile(policyFile, 'team-a: [test-bucket/shop/]\nteam-b: [other-bucket]\n');
    try {
      kube.fake.apply(appDocument('shop', 'team-a')); // test-bucket, prefix shop/: allowed
      kube.fake.apply(appDocument('blog', 'team-b')); // test-bucket: team-b's apps may use other-bucket only
      kube.fake.apply(appDocument('wiki', 'team-a', { storage: { provider: 's3', bucket: 'test-bucket', prefix: 'wiki/' } })); // outside shop/
      // Its own credentials: signs as itself, so the policy does not restrict it.
      kube.fake.apply(appDocument('own', 'team-b', { storage: { provider: 's3', bucket: 'test-bucket', credentialsSecretRef: { name: 'own-s3' } } }));
      const stack = await kube.start({ env: { DARKROOM_NAMESPACE: '*', DARKROOM_STORAGE_POLICY_FILE: policyFile } });
      const { url } = stack.darkroom;
      expect((await presign(url, 'shop')).status).toBe(200);
      kube.fake.setSecret('team-b', 'own-s3', { ...stack.credentials });
      await waitFor(async () => (await presign(url, 'own')).status === 200, 'the app with its own credentials served');
      for (const [namespace, name] of [['team-b', 'blog'], ['team-a', 'wiki']] as const) {
        const response = await presign(url, name);
        expect(response.status).toBe(503);
        const text = JSON.stringify(response.body);
        expect(response.body).toMatchObject({ error: { code: 'APP_CONFIG_INVALID' } });
        for (const internal of ['test-bucket', namespace, 'policy']) expect(text).not.toContain(internal);
        const ready = await waitFor(() => readyOf(namespace, name), `StorageNotAllowed for ${namespace}/${name}`);
        expect(ready).toMatchObject({ status: 'False', reason: 'StorageNotAllowed' });
        expect(ready.message).toContain('test-bucket');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails /readyz with "config not synced" until the first list succeeds', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    kube.fake.inject({ method: 'GET', path: /darkroomapps$/, query: {}, status: 503, times: 4 });
    const port = await freePort();
    const settings = loadSettings({ PORT: String(port), ADMIN_PORT: '0', HOST: '127.0.0.1', POD_NAMESPACE: 'team-a', POD_NAME: 'darkroom-0', LOG_LEVEL: 'silent' });
    const starting = startDarkroom(settings, { logger: createLogger('silent'), kubernetes: { kubeConfig: kubeConfigFor(kube.fake), timing: { ...fastTiming, restartBackoff: { initialMs: 200, maxMs: 200 } } } });
    const notReady = await waitFor(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      return response.status === 503 && ((await response.json()));
    }, '/readyz while not synced');
    expect(JSON.stringify(notReady)).toContain('config not synced');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const darkroom = await starting;
    try {
      expect((await fetch(`${darkroom.url}/readyz`)).status).toBe(200);
      expect(kube.fake.requests.filter((request) => request.path.endsWith('/darkroomapps') && !request.query.watch).length).toBeGreaterThanOrEqual(5);
    } finally {
      await darkroom.close();
    }
  });
});

describe('credentials Secrets', () => {
  it('signs with the keys of the named Secret, follows a rotation, and reports a missing Secret', async () => {
    const stack = await kube.start();
    const { url } = stack.darkroom;
    const { accessKeyId, secretAccessKey } = stack.credentials;
    kube.fake.apply(appDocument('vault', 'team-a', { storage: { provider: 's3', bucket: 'test-bucket', credentialsSecretRef: { name: 'vault-s3' } } }));

    // No Secret yet: refused with a clear message and reported.
    const missing = await waitFor(() => readyOf('team-a', 'vault'), 'CredentialsSecretNotFound');
    expect(missing).toMatchObject({ status: 'False', reason: 'CredentialsSecretNotFound' });
    expect(missing.message).toContain('spec.storage.credentialsSecretRef.name');
    const refused = await presign(url, 'vault');
    expect(refused.status).toBe(503);
    expect(JSON.stringify(refused.body)).toContain('APP_CONFIG_INVALID');

    kube.fake.setSecret('team-a', 'vault-s3', { accessKeyId: `${accessKeyId}`, secretAccessKey });
    const signed = await waitFor(async () => {
      const result = await presign(url, 'vault');
      return result.status === 200 ? result : undefined;
    }, 'presign with the Secret');
    const uploadURL = String((signed.body.data as Record<string, unknown>).uploadURL);
    expect(decodeURIComponent(uploadURL)).toContain(`X-Amz-Credential=${accessKeyId}/`);
    await waitFor(() => readyOf('team-a', 'vault')?.status === 'True', 'Ready=True with the Secret');
    // The signed URL really works against the SigV4-verifying storage.
    const put = await fetch(uploadURL, { method: 'PUT', headers: (signed.body.data as { headers: Record<string, string> }).headers, body: Buffer.alloc(1000, 1) });
    expect(put.status).toBe(200);

    // Rotation: the provider is rebuilt with the new key id.
    kube.fake.setSecret('team-a', 'vault-s3', { accessKeyId: 'ROTATEDKEYID', secretAccessKey: 'rotated-secret' });
    await waitFor(async () => {
      const result = await presign(url, 'vault');
      return result.status === 200 && decodeURIComponent(String((result.body.data as Record<string, unknown>).uploadURL)).includes('X-Amz-Credential=ROTATEDKEYID/');
    }, 'presign with the rotated key');

    // A Secret without the keys is reported as invalid.
    kube.fake.setSecret('team-a', 'vault-s3', { accessKey: 'typo' });
    const invalid = await waitFor(() => {
      const ready = readyOf('team-a', 'vault');
      return ready?.reason === 'CredentialsSecretInvalid' ? ready : undefined;
    }, 'CredentialsSecretInvalid');
    expect(invalid.message).toContain('accessKeyId');
    expect(invalid.message).not.toContain('typo');
  });

  it('is ready only once the Secrets were tried: a forbidden one refuses its app at once, with a status, and counts as invalid', async () => {
    kube.fake.apply(appDocument('locked', 'team-a', { storage: { provider: 's3', bucket: 'test-bucket', credentialsSecretRef: { name: 'locked-s3' } } }));
    kube.fake.apply(appDocument('open', 'team-a'));
    kube.fake.setSecret('team-a', 'locked-s3', { accessKeyId: 'a', secretAccessKey: 'b' });
    // As a real API server answers for a Secret the Role does not name (RBAC denies get).
    kube.fake.inject({ method: 'GET', path: /\/secrets\/locked-s3$/, status: 403, times: 1_000 });
    const stack = await kube.start();
    const { url, adminUrl } = stack.darkroom;
    // start() returns once the registry is synced (readiness): the Secret read has already failed.
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await presign(url, 'locked')).status).toBe(503);
    expect((await presign(url, 'open')).status).toBe(200);
    expect(await metricValue(adminUrl, 'darkroom_config_app_valid', 'app="locked"')).toBe(0);
    expect(await metricValue(adminUrl, 'darkroom_config_apps_invalid')).toBe(1);
    const ready = await waitFor(() => readyOf('team-a', 'locked'), 'status of locked');
    expect(ready).toMatchObject({ status: 'False', reason: 'CredentialsSecretForbidden', observedGeneration: 1, statusObservedGeneration: 1 });
    expect(ready.message).toContain('403');
    // Re-read every 200 ms here, and refused each time: warned once, not per attempt.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(stack.logLines.filter((line) => line.level === 'warn' && line.secret === 'locked-s3')).toHaveLength(1);
    expect(stack.logLines.filter((line) => line.level === 'warn' && line.app === 'locked')).toHaveLength(1);
    // A refused request is logged without a stack, below error level.
    expect(stack.logLines.filter((line) => line.code === 'APP_CONFIG_INVALID').every((line) => line.level === 'info' && line.err === undefined)).toBe(true);
  });
});
