import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appDocument, fastTiming, metricValue, presign, useFakeKube, waitFor } from '../support/kube-darkroom.js';
import { recordPropagation, writePropagationReport } from '../support/propagation.js';
import { startStack } from '../support/stack.js';

const kube = useFakeKube();
afterAll(() => writePropagationReport('kubernetes-watch'));

/** Applies a change on the fake API server and measures until darkroom serves it. */
async function measure<T>(scenario: string, change: () => void, served: () => Promise<T>): Promise<NonNullable<T>> {
  const started = performance.now();
  change();
  const result = await waitFor(served, scenario);
  recordPropagation(scenario, performance.now() - started);
  return result;
}

describe('DarkroomApp watch', () => {
  it('serves added apps, follows modifications and stops serving deleted ones', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start();
    const { url, adminUrl } = stack.darkroom;
    expect((await presign(url, 'shop')).status).toBe(200);

    await measure('add', () => kube.fake.apply(appDocument('blog', 'team-a')), async () => (await presign(url, 'blog')).status === 200);
    await measure(
      'modify',
      () => kube.fake.apply(appDocument('blog', 'team-a', { allowPublicUpload: false })),
      async () => (await presign(url, 'blog')).status === 403,
    );
    await measure('delete', () => kube.fake.delete('team-a', 'blog'), async () => (await presign(url, 'blog')).status === 404);
    expect((await presign(url, 'shop')).status).toBe(200);

    // Only the first list was a list; everything else came over the watch, which asked for bookmarks.
    expect(await metricValue(adminUrl, 'darkroom_config_watch_relists_total')).toBe(1);
    expect(await metricValue(adminUrl, 'darkroom_config_watch_connected')).toBe(1);
    const watches = kube.fake.requests.filter((request) => request.query.watch === 'true');
    expect(watches.length).toBeGreaterThan(0);
    expect(watches.every((request) => request.query.allowWatchBookmarks === 'true' && request.query.resourceVersion)).toBe(true);
    expect(await metricValue(adminUrl, 'darkroom_config_watch_last_event_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  it('finds the cluster through KUBECONFIG (development), via client-node loadFromDefault', async () => {
    kube.fake.apply(appDocument('shop', 'dev'));
    const dir = await mkdtemp(join(tmpdir(), 'darkroom-kubeconfig-'));
    const previous = process.env.KUBECONFIG;
    process.env.KUBECONFIG = join(dir, 'config');
    try {
      await writeFile(process.env.KUBECONFIG, kube.fake.kubeconfig('dev'));
      // No POD_NAMESPACE and no kubeconfig handed in: the context's namespace is watched.
      const stack = kube.track(await startStack({ appsYaml: '', env: { DARKROOM_APPS_FILE: '' }, start: { kubernetes: { timing: fastTiming } } }));
      expect((await presign(stack.darkroom.url, 'shop')).status).toBe(200);
      expect(kube.fake.requests.some((request) => request.path === '/apis/darkroom.dev/v1alpha1/namespaces/dev/darkroomapps')).toBe(true);
    } finally {
      if (previous === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = previous;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('watches only its own namespace by default', async () => {
    kube.fake.apply(appDocument('mine', 'team-a'));
    kube.fake.apply(appDocument('theirs', 'team-b'));
    const stack = await kube.start();
    expect((await presign(stack.darkroom.url, 'mine')).status).toBe(200);
    expect((await presign(stack.darkroom.url, 'theirs')).status).toBe(404);
    expect(kube.fake.requests.some((request) => request.path === '/apis/darkroom.dev/v1alpha1/namespaces/team-a/darkroomapps')).toBe(true);
  });

  it('re-lists after 410 Gone (as an ERROR event and as an HTTP status) and picks up changes made meanwhile', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start();
    const { url, adminUrl } = stack.darkroom;
    for (const asHttpStatus of [false, true]) {
      kube.fake.goneAsHttpStatus = asHttpStatus;
      const relists = (await metricValue(adminUrl, 'darkroom_config_watch_relists_total'))!;
      const name = asHttpStatus ? 'gone-http' : 'gone-event';
      kube.fake.dropWatches();
      kube.fake.apply(appDocument(name, 'team-a'));
      kube.fake.compact(); // the event above is no longer in the history: only a re-list can find it
      await waitFor(async () => (await presign(url, name)).status === 200, `${name} served after re-list`);
      expect(await metricValue(adminUrl, 'darkroom_config_watch_relists_total')).toBe(relists + 1);
    }
    expect((await presign(url, 'shop')).status).toBe(200);
  });

  it('restarts after an ERROR event and a dropped connection, resuming from its resourceVersion', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start();
    const { url, adminUrl } = stack.darkroom;
    await waitFor(() => kube.fake.liveWatches === 1, 'watch open');
    kube.fake.sendWatchError(500);
    await measure('after ERROR event', () => kube.fake.apply(appDocument('after-error', 'team-a')), async () => (await presign(url, 'after-error')).status === 200);
    await waitFor(() => kube.fake.liveWatches === 1, 'watch reopened');
    kube.fake.dropWatches();
    await measure('after dropped connection', () => kube.fake.apply(appDocument('after-drop', 'team-a')), async () => (await presign(url, 'after-drop')).status === 200);
    expect(await metricValue(adminUrl, 'darkroom_config_watch_restarts_total')).toBeGreaterThanOrEqual(2);
    // Resumed from the resourceVersion each time: no re-list was needed.
    expect(await metricValue(adminUrl, 'darkroom_config_watch_relists_total')).toBe(1);
  });

  it('keeps serving the last known apps while the API server is down, and catches up after it restarts', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start();
    const { url, adminUrl } = stack.darkroom;
    await kube.fake.pause();
    await waitFor(async () => (await metricValue(adminUrl, 'darkroom_config_watch_connected')) === 0, 'watch disconnected');
    expect((await presign(url, 'shop')).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    kube.fake.apply(appDocument('while-down', 'team-a')); // stored while the server is "down" (etcd keeps it)
    await measure('API server restart', () => void kube.fake.resume(), async () => (await presign(url, 'while-down')).status === 200);
    expect((await presign(url, 'shop')).status).toBe(200);
    expect(await metricValue(adminUrl, 'darkroom_config_watch_restarts_total')).toBeGreaterThanOrEqual(1);
  });

  it('rebuilds a silently stalled watch', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start({ timing: { watchInactivityTimeoutMs: 500 } });
    const { url, adminUrl } = stack.darkroom;
    await waitFor(() => kube.fake.liveWatches === 1, 'watch open');
    kube.fake.stallWatches();
    await measure('silent stall (0.5 s inactivity timeout)', () => kube.fake.apply(appDocument('after-stall', 'team-a')), async () => (await presign(url, 'after-stall')).status === 200);
    expect(await metricValue(adminUrl, 'darkroom_config_watch_restarts_total')).toBeGreaterThanOrEqual(1);
  });

  it('treats bookmarks as signs of life, so a quiet but healthy watch is not restarted and stays connected', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    // The fake bookmarks every 0.4 s against darkroom's 1 s stall timeout (production: 60 s against 150 s).
    const stack = await kube.start();
    const { url, adminUrl } = stack.darkroom;
    const connected: (number | undefined)[] = [];
    for (let sample = 0; sample < 10; sample += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      connected.push(await metricValue(adminUrl, 'darkroom_config_watch_connected'));
    }
    expect(connected.every((value) => value === 1)).toBe(true);
    expect(await metricValue(adminUrl, 'darkroom_config_watch_restarts_total')).toBe(0);
    expect(kube.fake.requests.filter((request) => request.query.watch === 'true')).toHaveLength(1);
    await measure('change after 2.5 quiet stall timeouts', () => kube.fake.apply(appDocument('late', 'team-a')), async () => (await presign(url, 'late')).status === 200);
  });

  it('resumes a watch the server ended at its timeout at once, without counting a restart', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    const stack = await kube.start({ timing: { serverWatchTimeoutSeconds: 1 } });
    const { adminUrl } = stack.darkroom;
    await waitFor(() => kube.fake.requests.filter((request) => request.query.watch === 'true').length >= 3, 'several server-ended watches');
    expect(await metricValue(adminUrl, 'darkroom_config_watch_restarts_total')).toBe(0);
    expect(await metricValue(adminUrl, 'darkroom_config_watch_relists_total')).toBe(1);
  });

  it('rebuilds with a re-list when nothing at all arrives for staleAfterMs', async () => {
    kube.fake.apply(appDocument('shop', 'team-a'));
    // The inactivity timeout is out of the way; only the stale backstop can notice.
    const stack = await kube.start({ timing: { watchInactivityTimeoutMs: 60_000, staleAfterMs: 600 } });
    const { url, adminUrl } = stack.darkroom;
    await waitFor(() => kube.fake.liveWatches === 1, 'watch open');
    kube.fake.stallWatches();
    kube.fake.apply(appDocument('after-stale', 'team-a'));
    await waitFor(async () => (await presign(url, 'after-stale')).status === 200, 'served after stale rebuild');
    expect(await metricValue(adminUrl, 'darkroom_config_watch_relists_total')).toBeGreaterThanOrEqual(2);
  });
});
