import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/config/sources/kubernetes/backoff.js';
import { resolveKubernetesSettings, serviceAccountNamespaceFile } from '../../src/config/sources/kubernetes/kube-settings.js';
import { loadSettings } from '../../src/config/settings.js';

describe('Backoff', () => {
  it('grows by the factor up to the cap, with jitter only ever shortening a delay', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 1, maxLength: 30 }), (randoms) => {
        let index = 0;
        const backoff = new Backoff({ initialMs: 100, maxMs: 5_000, factor: 2, jitter: 0.5, random: () => randoms[index++ % randoms.length]! });
        for (let attempt = 0; attempt < randoms.length; attempt += 1) {
          const ceiling = Math.min(5_000, 100 * 2 ** attempt);
          const delay = backoff.next();
          expect(delay).toBeLessThanOrEqual(ceiling);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling * 0.5));
        }
      }),
    );
  });

  it('starts over after reset', () => {
    const backoff = new Backoff({ initialMs: 100, jitter: 0 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([100, 200, 400]);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });
});

describe('resolveKubernetesSettings', () => {
  const surroundings = (files: Record<string, string> = {}, kubeConfigNamespace?: string) => ({
    readFile: (path: string) => files[path],
    hostname: () => 'host-1',
    kubeConfigNamespace,
  });

  it('watches the pod namespace by default, from POD_NAMESPACE or the service-account file', () => {
    expect(resolveKubernetesSettings({ watchNamespace: undefined, podNamespace: 'team-a', podName: 'pod-1' }, surroundings())).toEqual({
      watchNamespace: 'team-a',
      ownNamespace: 'team-a',
      identity: 'pod-1',
    });
    expect(resolveKubernetesSettings({ watchNamespace: undefined, podNamespace: undefined, podName: undefined }, surroundings({ [serviceAccountNamespaceFile]: 'team-b\n' }))).toEqual({
      watchNamespace: 'team-b',
      ownNamespace: 'team-b',
      identity: 'host-1',
    });
    expect(resolveKubernetesSettings({ watchNamespace: undefined, podNamespace: undefined, podName: undefined }, surroundings({}, 'dev')).watchNamespace).toBe('dev');
    // An empty namespace file falls through, and the watch follows the Lease's namespace.
    expect(resolveKubernetesSettings({ watchNamespace: undefined, podNamespace: undefined, podName: 'pod-1' }, surroundings({ [serviceAccountNamespaceFile]: '\n' }))).toEqual({
      watchNamespace: 'default',
      ownNamespace: 'default',
      identity: 'pod-1',
    });
  });

  it('watches all namespaces for "*" and keeps the Lease in its own', () => {
    expect(resolveKubernetesSettings({ watchNamespace: '*', podNamespace: 'darkroom', podName: 'pod-1' }, surroundings())).toEqual({
      watchNamespace: undefined,
      ownNamespace: 'darkroom',
      identity: 'pod-1',
    });
  });

  it('DARKROOM_NAMESPACE is validated at start', () => {
    expect(loadSettings({ DARKROOM_NAMESPACE: '*' }).watchNamespace).toBe('*');
    expect(loadSettings({ DARKROOM_NAMESPACE: 'team-a', POD_NAME: 'p', POD_NAMESPACE: 'n' })).toMatchObject({ watchNamespace: 'team-a', podName: 'p', podNamespace: 'n' });
    expect(() => loadSettings({ DARKROOM_NAMESPACE: 'Team A' })).toThrow(/DARKROOM_NAMESPACE: must be a namespace name or "\*"/);
  });
});
