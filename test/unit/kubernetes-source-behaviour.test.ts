/**
 * The Kubernetes source's parts on their own, against an in-memory KubeApi: the status writer's
 * once-per-resourceVersion rule, the watch supervisor's backoff reset after a healthy connection,
 * and the Secret reader's handling of unreadable Secrets.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { desiredStatus } from '../../src/config/sources/kubernetes/app-status.js';
import { Backoff } from '../../src/config/sources/kubernetes/backoff.js';
import { KubeApiError, type KubeApi, type SecretRecord } from '../../src/config/sources/kubernetes/kube-api.js';
import { SecretReader } from '../../src/config/sources/kubernetes/secret-reader.js';
import { StatusWriter } from '../../src/config/sources/kubernetes/status-writer.js';
import { WatchSupervisor } from '../../src/config/sources/kubernetes/watch-supervisor.js';
import { DarkroomMetrics } from '../../src/metrics/metrics.js';

const silent = pino({ level: 'silent' });

/** A KubeApi that records status patches and serves Secrets from a function. */
function memoryApi(readSecret: (namespace: string, name: string) => Promise<SecretRecord | undefined> = async () => undefined) {
  const patches: { name: string; status: unknown }[] = [];
  const api: KubeApi = {
    listDarkroomApps: async () => ({ items: [], resourceVersion: '1' }),
    patchDarkroomAppStatus: async (_namespace, name, status) => {
      patches.push({ name, status });
    },
    readSecret,
    readLease: async () => undefined,
    createLease: async (_namespace, _name, lease) => lease,
    replaceLease: async (_namespace, _name, lease) => lease,
  };
  return { api, patches };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('StatusWriter', () => {
  const now = new Date(0);
  const served = desiredStatus({ ready: true }, 1, undefined, now);
  const refused = desiredStatus({ ready: false, reason: 'InvalidSpec', problems: [{ path: 'spec', message: 'bad' }] }, 1, undefined, now);

  it('writes a status once per resourceVersion, though the object it holds still shows the old one', async () => {
    const { api, patches } = memoryApi();
    const writer = new StatusWriter({ api, metrics: new DarkroomMetrics(), logger: silent, isLeader: () => true });
    // Three reconciles before our own write comes back as an event: the object still has no status.
    writer.reconcile('ns', 'shop', undefined, served, '10');
    await settle();
    writer.reconcile('ns', 'shop', undefined, served, '10');
    writer.reconcile('ns', 'shop', undefined, served, '10');
    await settle();
    expect(patches).toHaveLength(1);
    // A new verdict for the same resourceVersion is written; so is the old one once the object changed.
    writer.reconcile('ns', 'shop', undefined, refused, '10');
    await settle();
    writer.reconcile('ns', 'shop', refused, served, '11');
    await settle();
    expect(patches.map((patch) => patch.status)).toEqual([served, refused, served]);
    // Up to date: nothing to write, whatever the resourceVersion.
    writer.reconcile('ns', 'shop', served, served, '12');
    await settle();
    expect(patches).toHaveLength(3);
  });

  it('tries again for the same resourceVersion after a failed write or a lost leadership', async () => {
    let fail = true;
    let leader = true;
    const { api, patches } = memoryApi();
    const patch = api.patchDarkroomAppStatus.bind(api);
    api.patchDarkroomAppStatus = async (namespace, name, status) => {
      if (fail) throw new KubeApiError(500, 'injected');
      return patch(namespace, name, status);
    };
    const writer = new StatusWriter({ api, metrics: new DarkroomMetrics(), logger: silent, isLeader: () => leader, retryInitialMs: 60_000 });
    writer.reconcile('ns', 'shop', undefined, served, '10');
    await settle();
    fail = false;
    writer.reconcile('ns', 'shop', undefined, served, '10');
    await settle();
    expect(patches).toHaveLength(1);
    writer.stop();

    leader = false;
    const second = new StatusWriter({ api, metrics: new DarkroomMetrics(), logger: silent, isLeader: () => leader });
    second.reconcile('ns', 'blog', undefined, served, '20');
    leader = true;
    second.reconcile('ns', 'blog', undefined, served, '20');
    await settle();
    expect(patches.map((entry) => entry.name)).toEqual(['shop', 'blog']);
  });
});

describe('WatchSupervisor', () => {
  /** Runs sessions that fail at once (an API server that is down) or after a healthy connection. */
  async function delaysFor(sessions: readonly ('refused' | 'healthy')[]): Promise<number[]> {
    const delays: number[] = [];
    let index = 0;
    const done = Promise.withResolvers<void>();
    const supervisor: WatchSupervisor = new WatchSupervisor({
      backoff: new Backoff({ initialMs: 1, maxMs: 1_000, jitter: 0 }),
      staleAfterMs: 60_000,
      healthyAfterMs: 20,
      lastAlive: () => 0,
      logger: silent,
      onRestart: (_error, delayMs) => delays.push(delayMs),
      run: async () => {
        const kind = sessions[index++];
        if (kind === undefined) {
          done.resolve();
          await new Promise(() => undefined);
        }
        if (kind === 'healthy') {
          supervisor.connected();
          await new Promise((resolve) => setTimeout(resolve, 30)); // open and quiet, then cut
        }
        throw new Error('watch failed');
      },
    });
    supervisor.start();
    await done.promise;
    void supervisor.stop();
    return delays;
  }

  it('grows the delay while the API server refuses, and starts over after a connection that was healthy', async () => {
    expect(await delaysFor(['refused', 'refused', 'refused', 'healthy', 'refused'])).toEqual([1, 2, 4, 1, 2]);
  });
});

describe('SecretReader', () => {
  it('reports a Secret it may not read as unreadable with the status, warns once, and keeps data it had', async () => {
    let answer: () => Promise<SecretRecord | undefined> = async () => {
      throw new KubeApiError(403, 'Kubernetes API call failed: HTTP 403');
    };
    const { api } = memoryApi(() => answer());
    const warnings: unknown[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) });
    let changes = 0;
    const reader = new SecretReader({ api, logger, refreshMs: 5, onChange: () => (changes += 1) });
    await reader.track(new Set(['ns/locked']));
    expect(reader.state('ns', 'locked')).toEqual({ state: 'unreadable', status: 403 });
    await new Promise((resolve) => setTimeout(resolve, 40)); // several refreshes, all refused
    expect(warnings).toHaveLength(1);
    expect(changes).toBe(1);

    answer = async () => ({ data: { accessKeyId: 'a', secretAccessKey: 'b' }, resourceVersion: '7' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(reader.state('ns', 'locked')).toMatchObject({ state: 'present', version: '7' });
    // The API fails now: the credentials read before stay in use.
    answer = async () => {
      throw new KubeApiError(0, 'no answer');
    };
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(reader.state('ns', 'locked')).toMatchObject({ state: 'present', version: '7' });
    reader.stop();
  });
});
