/**
 * Builds the Kubernetes config source for the composition root: the kubeconfig through
 * client-node's `loadFromDefault` (`KUBECONFIG`, then `~/.kube/config`, then the in-cluster
 * service account), the namespaces and identity from the settings.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { DarkroomMetrics } from '../../../metrics/metrics.js';
import type { StoragePolicy } from '../../storage-policy.js';
import { KubernetesConfigSource, type KubernetesSourceTiming } from './darkroom-app-source.js';
import { resolveKubernetesSettings, type KubernetesSettingsInput } from './kube-settings.js';

/** Builds the source; `kubeConfig` defaults to client-node's `loadFromDefault()`. */
export function createKubernetesConfigSource(
  settings: KubernetesSettingsInput,
  metrics: DarkroomMetrics,
  logger: Logger,
  options: { kubeConfig?: KubeConfig | undefined; timing?: KubernetesSourceTiming | undefined; storagePolicy?: StoragePolicy | undefined } = {},
): KubernetesConfigSource {
  const kubeConfig = options.kubeConfig ?? loadDefaultKubeConfig();
  const contextName = kubeConfig.getCurrentContext();
  const resolved = resolveKubernetesSettings(settings, {
    readFile: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    hostname,
    kubeConfigNamespace: kubeConfig.getContextObject(contextName)?.namespace,
  });
  return new KubernetesConfigSource({
    kubeConfig,
    namespace: resolved.watchNamespace,
    leaseNamespace: resolved.ownNamespace,
    identity: resolved.identity,
    metrics,
    logger: logger.child({ component: 'kubernetes-config' }),
    ...(options.timing ? { timing: options.timing } : {}),
    storagePolicy: options.storagePolicy,
  });
}

function loadDefaultKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  // With no KUBECONFIG, no ~/.kube/config and no service account, loadFromDefault falls back to
  // an unauthenticated http://localhost:8080 (cluster name "cluster"): say so instead of retrying it.
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster || (cluster.name === 'cluster' && cluster.server === 'http://localhost:8080')) {
    throw new Error(
      'DARKROOM_APPS_FILE is not set and no Kubernetes API is configured (no KUBECONFIG, ~/.kube/config or in-cluster service account): point DARKROOM_APPS_FILE at a YAML file of DarkroomApp documents (see examples/apps.yaml), or run in a cluster.',
    );
  }
  return kubeConfig;
}
