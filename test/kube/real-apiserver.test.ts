/**
 * darkroom against a real kube-apiserver (v1.20.2 with etcd, RBAC authorization), as a platform
 * team runs it: the CRD applied with kubectl, the chart's own ServiceAccount, Role and RoleBinding
 * (helm template), darkroom as separate processes authenticated with that ServiceAccount's token.
 * The tests run in order on one cluster and share one quiet period longer than the server's
 * one-minute bookmark interval. Timings are recorded (test-artifacts/kube-real-propagation.json),
 * never asserted.
 *
 * Kubernetes 1.20 has no CEL, so the CRD is applied with --validate=false (kubectl drops the
 * x-kubernetes-validations it does not know); the CEL rules are covered by test/unit/crd-schema.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/devstorage/embedded-s3.js';
import { startDarkroomProcess, type DarkroomProcess } from '../support/darkroom-process.js';
import { presign, waitFor } from '../support/kube-darkroom.js';
import { recordPropagation, writePropagationReport } from '../support/propagation.js';
import { RealKubeCluster } from '../support/real-kube.js';
import { applyObjects, darkroomApp, darkroomNamespace, installDarkroom } from '../support/real-kube-darkroom.js';

const namespace = darkroomNamespace;
const serviceAccount = 'system:serviceaccount:darkroom:darkroom';
/** Longer than the API server's one-minute bookmark interval, with margin. */
const quietMs = 75_000;

let cluster: RealKubeCluster;
let storage: EmbeddedS3;
let kubeconfigPath: string;
const credentials = { accessKeyId: 'AKIAKUBETIERTEST', secretAccessKey: 'kube-tier-secret-access-key-0123456789' };
const replicas: DarkroomProcess[] = [];

afterAll(async () => {
  writePropagationReport('kube-real');
  await Promise.all(replicas.map((replica) => replica.stop('SIGKILL')));
  await storage?.close();
  await cluster?.close();
}, 60_000);

const app = darkroomApp;

function secret(name: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: credentials };
}

const apply = (...objects: Record<string, unknown>[]) => applyObjects(cluster, ...objects);

interface AppObject {
  metadata: { name: string; generation: number };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[] };
}

async function darkroomApps(): Promise<Map<string, AppObject>> {
  const { body } = await cluster.request('GET', `/apis/darkroom.dev/v1alpha1/namespaces/${namespace}/darkroomapps`);
  return new Map((body.items as AppObject[]).map((item) => [item.metadata.name, item]));
}

function ready(object: AppObject | undefined) {
  return object?.status?.conditions?.find((condition) => condition.type === 'Ready');
}

/** `kubectl auth can-i` as darkroom's ServiceAccount: what the real RBAC authorizer allows. */
function canI(verb: string, resource: string): boolean {
  const result = spawnSync('kubectl', ['--kubeconfig', cluster.adminKubeconfig, 'auth', 'can-i', verb, resource, '-n', namespace, `--as=${serviceAccount}`], { encoding: 'utf8' });
  return result.stdout.trim() === 'yes';
}

async function startReplica(podName: string): Promise<DarkroomProcess> {
  const replica = await startDarkroomProcess({ podName, namespace, kubeconfigPath, s3Endpoint: storage.endpoint, credentials });
  replicas.push(replica);
  await waitFor(async () => (await fetch(`${replica.url}/readyz`)).status === 200, `${podName} ready`, 30_000);
  return replica;
}

async function leaderOf(candidates: readonly DarkroomProcess[]): Promise<DarkroomProcess | undefined> {
  for (const candidate of candidates) if ((await candidate.metric('darkroom_leader')) === 1) return candidate;
  return undefined;
}

async function measureUntil(scenario: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  await waitFor(check, scenario, timeoutMs);
  const ms = performance.now() - started;
  recordPropagation(scenario, ms);
  return ms;
}

const served = (replica: DarkroomProcess, name: string) => async () => (await presign(replica.url, name)).status === 200;

describe('darkroom on a real kube-apiserver 1.20.2 with RBAC', () => {
  beforeAll(async () => {
    cluster = await RealKubeCluster.start();
    kubeconfigPath = await installDarkroom(cluster, { secretNames: ['shop-s3'] });
    storage = await startEmbeddedS3({ buckets: ['test-bucket'], credentials, host: '127.0.0.1', port: 0 });
    apply(
      secret('shop-s3'),
      secret('locked-s3'), // exists, but the chart's Role does not name it
      app('shop', { credentialsSecretRef: { name: 'shop-s3' } }),
      app('open'),
      app('locked', { credentialsSecretRef: { name: 'locked-s3' } }),
      // Refused by darkroom (and by the CRD's CEL rule on 1.29+; 1.20 has no CEL and stores it).
      app('dotted', { prefix: 'a/../b/' }),
    );
    await startReplica('darkroom-a');
    await startReplica('darkroom-b');
  }, 15 * 60_000); // a cold machine builds kube-apiserver first (about five minutes)

  it('grants the chart\'s ServiceAccount exactly the documented permissions', () => {
    expect(canI('get', 'secrets/shop-s3')).toBe(true);
    expect(canI('get', 'secrets/locked-s3')).toBe(false);
    expect(canI('list', 'secrets')).toBe(false);
    expect(canI('watch', 'secrets/shop-s3')).toBe(false);
    expect(canI('watch', 'darkroomapps.darkroom.dev')).toBe(true);
    expect(canI('patch', 'darkroomapps.darkroom.dev/shop')).toBe(false);
    expect(canI('get', 'leases.coordination.k8s.io/darkroom-status-writer')).toBe(true);
    expect(canI('update', 'leases.coordination.k8s.io/darkroom-status-writer')).toBe(true);
    expect(canI('update', 'leases.coordination.k8s.io/kube-controller-manager')).toBe(false);
    expect(canI('get', 'leases.coordination.k8s.io/kube-controller-manager')).toBe(false);
    // RBAC cannot narrow create by name; the rule that allows it allows nothing else.
    expect(canI('create', 'leases.coordination.k8s.io')).toBe(true);
    expect(canI('delete', 'leases.coordination.k8s.io/darkroom-status-writer')).toBe(false);
  });

  it('reports every app in .status, says why the one with a forbidden Secret is refused, and its metrics agree', async () => {
    const [a] = replicas as [DarkroomProcess];
    const apps = await waitFor(async () => {
      const found = await darkroomApps();
      return ['shop', 'open', 'locked', 'dotted'].every((name) => ready(found.get(name))) ? found : undefined;
    }, 'statuses of all four apps', 20_000);
    for (const object of apps.values()) {
      expect(object.status?.observedGeneration).toBe(object.metadata.generation);
      expect(ready(object)?.observedGeneration).toBe(object.metadata.generation);
    }
    expect(ready(apps.get('shop'))).toMatchObject({ status: 'True', reason: 'AppServed' });
    expect(ready(apps.get('open'))).toMatchObject({ status: 'True', reason: 'AppServed' });
    expect(ready(apps.get('locked'))).toMatchObject({ status: 'False', reason: 'CredentialsSecretForbidden' });
    expect(ready(apps.get('locked'))?.message).toContain('403');
    expect(ready(apps.get('dotted'))).toMatchObject({ status: 'False', reason: 'InvalidSpec' });

    for (const replica of replicas) {
      expect((await presign(replica.url, 'shop')).status).toBe(200);
      expect((await presign(replica.url, 'open')).status).toBe(200);
      const locked = await presign(replica.url, 'locked');
      expect(locked.status).toBe(503);
      expect((locked.body.error as { code: string }).code).toBe('APP_CONFIG_INVALID');
    }
    expect(await a.metric('darkroom_config_app_valid', 'app="shop"')).toBe(1);
    expect(await a.metric('darkroom_config_app_valid', 'app="locked"')).toBe(0);
    expect(await a.metric('darkroom_config_app_valid', 'app="dotted"')).toBe(0);
    expect(await a.metric('darkroom_config_apps_invalid')).toBe(2);
    expect(await a.metric('darkroom_config_apps_loaded')).toBe(2);
  });

  it(`keeps a watch quiet for ${quietMs / 1000} s (past the one-minute bookmark) open and healthy, then serves a change at once`, async () => {
    const [a, b] = replicas as [DarkroomProcess, DarkroomProcess];
    const restartsBefore = [await a.metric('darkroom_config_watch_restarts_total'), await b.metric('darkroom_config_watch_restarts_total')];
    const quietFrom = Date.now();
    const connected: number[] = [];
    while (Date.now() - quietFrom < quietMs) {
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      connected.push((await a.metric('darkroom_config_watch_connected'))!, (await b.metric('darkroom_config_watch_connected'))!);
    }
    expect(connected.every((value) => value === 1)).toBe(true);
    expect([await a.metric('darkroom_config_watch_restarts_total'), await b.metric('darkroom_config_watch_restarts_total')]).toEqual(restartsBefore);
    // Nothing changed in the quiet period, so what arrived meanwhile was a bookmark.
    expect((await a.metric('darkroom_config_watch_last_event_timestamp_seconds'))! * 1000).toBeGreaterThan(quietFrom);

    // One warning for the unreadable Secret and one for the refused app, however often they were re-read.
    for (const replica of replicas) {
      const warnings = replica.logLines.filter((line) => line.level === 'warn');
      expect(warnings.filter((line) => line.secret === 'locked-s3')).toHaveLength(1);
      expect(warnings.filter((line) => line.app === 'locked')).toHaveLength(1);
    }

    apply(app('late'));
    await measureUntil(`change after ${quietMs / 1000} s of quiet (replica a)`, served(a, 'late'));
    await measureUntil(`change after ${quietMs / 1000} s of quiet (replica b)`, served(b, 'late'));
  }, quietMs + 60_000);

  it('keeps serving while the API server is down and catches up after it restarts', async () => {
    const [a] = replicas as [DarkroomProcess];
    await cluster.killApiServer();
    const killedAt = performance.now();
    await waitFor(async () => (await a.metric('darkroom_config_watch_connected')) === 0, 'watch disconnected');
    expect((await presign(a.url, 'shop')).status).toBe(200);
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
    await cluster.startApiServer();
    recordPropagation('API server down (SIGKILL) → ready again', performance.now() - killedAt);
    await measureUntil('API server ready → watch reconnected (replica a)', async () => (await a.metric('darkroom_config_watch_connected')) === 1);
    apply(app('after-restart'));
    await measureUntil('change right after the API server restart (replica a)', served(a, 'after-restart'));
  }, 120_000);

  it('fails the Lease over on SIGTERM and on SIGKILL; a fresh leader with correct statuses writes none', async () => {
    const c = await startReplica('darkroom-c');
    const first = await waitFor(() => leaderOf(replicas), 'a leader');
    const others = () => replicas.filter((replica) => replica.child.exitCode === null && replica.child.signalCode === null);

    await first.stop('SIGTERM');
    await measureUntil('Lease failover after SIGTERM (released)', async () => (await leaderOf(others())) !== undefined, 30_000);
    const second = (await leaderOf(others()))!;
    // Make sure the replica that has never led (c) is the one to take over after the SIGKILL.
    const survivor = second === c ? others().find((replica) => replica !== c)! : c;
    const writesBefore = (await survivor.metric('darkroom_config_status_writes_total', 'outcome="ok"')) ?? 0;
    await second.stop('SIGKILL');
    await measureUntil('Lease failover after SIGKILL (expiry)', async () => (await survivor.metric('darkroom_leader')) === 1, 40_000);

    // Every status was already right when the survivor took over: it writes only the new app's.
    apply(app('after-failover'));
    await waitFor(async () => ready((await darkroomApps()).get('after-failover')), 'status of after-failover', 20_000);
    expect(await survivor.metric('darkroom_config_status_writes_total', 'outcome="ok"')).toBe(writesBefore + 1);
  }, 120_000);
});
