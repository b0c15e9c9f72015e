/**
 * darkroom configured from the fake Kubernetes API server (no apps file), through the same
 * composition root as production, with short timings so fault scenarios take seconds.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach } from 'vitest';
import type { KubernetesSourceTiming } from '../../src/config/sources/kubernetes/darkroom-app-source.js';
import { FakeKubeApiServer } from './fake-kube-apiserver.js';
import { startStack, type Stack } from './stack.js';

/**
 * Timings for tests: stalls noticed in 1 s, restarts after 50–500 ms, a 1.5 s Lease. The stall
 * timeout keeps production's ratio to the server's bookmark interval (150 s against 60 s): the fake
 * bookmarks every {@link fastBookmarkIntervalMs} in these tests.
 */
export const fastTiming: KubernetesSourceTiming = Object.freeze({
  watchInactivityTimeoutMs: 1_000,
  watchConnectTimeoutMs: 1_000,
  watchHealthyAfterMs: 500,
  staleAfterMs: 10_000,
  restartBackoff: { initialMs: 50, maxMs: 500 },
  leaseDurationMs: 1_500,
  leaseRenewDeadlineMs: 1_000,
  leaseRetryPeriodMs: 150,
  secretRefreshMs: 200,
  statusRetryMs: 100,
});

/** The fake's bookmark interval in tests using {@link fastTiming}: 1 s / 2.5, like 60 s against 150 s. */
export const fastBookmarkIntervalMs = 400;

export interface KubeStackOptions {
  readonly fake: FakeKubeApiServer;
  /** The pod's namespace (watched unless DARKROOM_NAMESPACE says otherwise). Default `team-a`. */
  readonly namespace?: string;
  readonly podName?: string;
  readonly env?: Record<string, string>;
  readonly timing?: KubernetesSourceTiming;
  readonly buckets?: string[];
}

export function kubeConfigFor(fake: FakeKubeApiServer, namespace = 'team-a'): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(fake.kubeconfig(namespace));
  return kubeConfig;
}

export async function startKubeStack(options: KubeStackOptions): Promise<Stack> {
  const namespace = options.namespace ?? 'team-a';
  return startStack({
    appsYaml: '',
    buckets: options.buckets ?? ['test-bucket'],
    env: { DARKROOM_APPS_FILE: '', POD_NAMESPACE: namespace, POD_NAME: options.podName ?? 'darkroom-0', ...options.env },
    start: { kubernetes: { kubeConfig: kubeConfigFor(options.fake, namespace), timing: { ...fastTiming, ...options.timing } } },
  });
}

/** What {@link useFakeKube} gives a test file. */
export interface FakeKubeTestContext {
  /** The current test's fake API server. */
  readonly fake: FakeKubeApiServer;
  /** Starts darkroom against `fake` (as {@link startKubeStack}); it is closed after the test. */
  start(options?: Omit<KubeStackOptions, 'fake'>): Promise<Stack>;
  /** Closes `stack`, started some other way, after the test. */
  track(stack: Stack): Stack;
  /** Closes `stack` now instead of after the test. */
  close(stack: Stack): Promise<void>;
}

/**
 * Registers the hooks of a Kubernetes integration test file: a fresh fake API server before each
 * test; after it, every stack the test started closed, then the server.
 */
export function useFakeKube(): FakeKubeTestContext {
  let fake: FakeKubeApiServer | undefined;
  const stacks = new Set<Stack>();
  beforeEach(async () => {
    fake = await FakeKubeApiServer.start();
    fake.bookmarkIntervalMs = fastBookmarkIntervalMs;
  });
  afterEach(async () => {
    await Promise.all([...stacks].map((stack) => stack.close()));
    stacks.clear();
    await fake?.close();
    fake = undefined;
  });
  const context: FakeKubeTestContext = {
    get fake() {
      if (!fake) throw new Error('the fake Kubernetes API server runs only inside a test');
      return fake;
    },
    async start(options = {}) {
      return context.track(await startKubeStack({ ...options, fake: context.fake }));
    },
    track(stack) {
      stacks.add(stack);
      return stack;
    },
    async close(stack) {
      stacks.delete(stack);
      await stack.close();
    },
  };
  return context;
}

/** A DarkroomApp document. */
export function appDocument(name: string, namespace: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'darkroom.dev/v1alpha1',
    kind: 'DarkroomApp',
    metadata: { name, namespace },
    spec: { allowPublicUpload: true, storage: { provider: 's3', bucket: 'test-bucket', prefix: `${name}/` }, ...spec },
  };
}

/** Polls `check` every 5 ms until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Asks darkroom for a presigned upload URL; returns the HTTP status and body. */
export async function presign(baseUrl: string, app: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}/darkroom/${app}/v1/images/presigned-urls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-owner-id': 'owner-1' },
    body: JSON.stringify({ file: 'photo.jpg', size: 1000 }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The value of one unlabelled (or first matching) series in a Prometheus text exposition. */
export async function metricValue(adminUrl: string, name: string, labels = ''): Promise<number | undefined> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}
