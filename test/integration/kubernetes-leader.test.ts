import { describe, expect, it } from 'vitest';
import { ClientNodeKubeApi } from '../../src/config/sources/kubernetes/kube-api.js';
import { appDocument, kubeConfigFor, metricValue, presign, useFakeKube, waitFor } from '../support/kube-darkroom.js';
import type { Stack } from '../support/stack.js';

const kube = useFakeKube();

const leaderGauge = (stack: Stack) => metricValue(stack.darkroom.adminUrl, 'darkroom_leader');
const okWrites = async (stack: Stack) => (await metricValue(stack.darkroom.adminUrl, 'darkroom_config_status_writes_total', 'outcome="ok"')) ?? 0;

function readyReason(name: string): string | undefined {
  const object = kube.fake.get('team-a', name) as { status?: { conditions?: { type: string; reason: string }[] } } | undefined;
  return object?.status?.conditions?.find((condition) => condition.type === 'Ready')?.reason;
}

describe('status writer election', () => {
  it('lets exactly one of two replicas write status, and fails over when the leader stops', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const first = await kube.start({ podName: 'darkroom-a' });
    await waitFor(async () => (await leaderGauge(first)) === 1, 'first replica leads');
    const second = await kube.start({ podName: 'darkroom-b' });
    expect((await presign(second.darkroom.url, 'shop')).status).toBe(200);

    // Both serve; only the leader writes.
    kube.fake.apply(appDocument('blog', 'team-a', { upload: { maxBytes: 0 } }));
    await waitFor(() => readyReason('blog') === 'InvalidSpec', 'status of blog');
    await new Promise((resolve) => setTimeout(resolve, 500)); // several renew periods
    expect(await leaderGauge(first)).toBe(1);
    expect(await leaderGauge(second)).toBe(0);
    expect(await okWrites(first)).toBe(2);
    expect(await okWrites(second)).toBe(0);
    expect(kube.fake.lease('team-a', 'darkroom-status-writer')).toMatchObject({ spec: { holderIdentity: 'darkroom-a', leaseTransitions: 0 } });

    // The leader stops and releases the Lease: the other takes over without waiting for expiry.
    const stoppedAt = Date.now();
    await kube.close(first);
    await waitFor(async () => (await leaderGauge(second)) === 1, 'second replica leads');
    const takeoverMs = Date.now() - stoppedAt;
    expect(kube.fake.lease('team-a', 'darkroom-status-writer')).toMatchObject({ spec: { holderIdentity: 'darkroom-b', leaseTransitions: 1 } });
    console.log(`[kubernetes-leader] failover after release: ${takeoverMs} ms (Lease duration 1.5 s)`);

    kube.fake.apply(appDocument('blog', 'team-a', { upload: { maxBytes: 10 } }));
    await waitFor(() => readyReason('blog') === 'AppServed', 'status written by the new leader');
    expect(await okWrites(second)).toBe(1);
  });

  it('takes over from a leader that vanished without releasing, once the Lease expires', async () => {
    // A Lease held by a replica that crashed: written once, never renewed.
    kube.fake.putLease('team-a', 'darkroom-status-writer', {
      holderIdentity: 'darkroom-ghost',
      leaseDurationSeconds: 2,
      renewTime: new Date().toISOString().replace('Z', '000Z'),
      leaseTransitions: 3,
    });
    const started = Date.now();
    const replica = await kube.start({ podName: 'darkroom-a' });
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await leaderGauge(replica)).toBe(0); // the ghost's Lease has not expired by our clock yet
    await waitFor(async () => (await leaderGauge(replica)) === 1, 'takes over after expiry', 5_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(kube.fake.lease('team-a', 'darkroom-status-writer')).toMatchObject({ spec: { holderIdentity: 'darkroom-a', leaseTransitions: 4 } });
  });

  it('answers a Lease update based on a stale resourceVersion with 409', async () => {
    const api = new ClientNodeKubeApi(kubeConfigFor(kube.fake));
    const created = await api.createLease('team-a', 'race', { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: new Date(), renewTime: new Date(), leaseTransitions: 0 });
    await expect(api.createLease('team-a', 'race', created)).rejects.toMatchObject({ status: 409 });
    const renewed = await api.replaceLease('team-a', 'race', { ...created, renewTime: new Date() });
    expect(renewed.resourceVersion).not.toBe(created.resourceVersion);
    await expect(api.replaceLease('team-a', 'race', { ...created, holderIdentity: 'b' })).rejects.toMatchObject({ status: 409 });
    expect((await api.readLease('team-a', 'race'))?.holderIdentity).toBe('a');
  });

  it('resolves a Lease race: conflicting updates get 409 and one replica wins', async () => {
    const replicas = await Promise.all(['darkroom-a', 'darkroom-b', 'darkroom-c'].map((podName) => kube.start({ podName })));
    await waitFor(async () => (await Promise.all(replicas.map(leaderGauge))).filter((value) => value === 1).length === 1, 'one leader');
    await new Promise((resolve) => setTimeout(resolve, 600));
    const leaders = (await Promise.all(replicas.map(leaderGauge))).filter((value) => value === 1);
    expect(leaders).toHaveLength(1);
    const holder = (kube.fake.lease('team-a', 'darkroom-status-writer') as { spec: { holderIdentity: string } }).spec.holderIdentity;
    expect(['darkroom-a', 'darkroom-b', 'darkroom-c']).toContain(holder);
  });
});
