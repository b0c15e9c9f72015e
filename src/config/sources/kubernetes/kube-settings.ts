/**
 * Where the Kubernetes source watches and who it is, from the process settings and the pod's
 * surroundings: `DARKROOM_NAMESPACE` (`*` for all), else the pod's own namespace (`POD_NAMESPACE`,
 * else the service-account namespace file, else the kubeconfig context's, else `default`). The
 * Lease always lives in the pod's own namespace; the identity is `POD_NAME`, else the host name.
 * Pure apart from the injected readers.
 */

/** The service-account namespace file mounted into every pod. */
export const serviceAccountNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The relevant process settings. */
export interface KubernetesSettingsInput {
  readonly watchNamespace: string | undefined;
  readonly podNamespace: string | undefined;
  readonly podName: string | undefined;
}

/** What the environment offers, injected for tests. */
export interface KubernetesSurroundings {
  /** Reads a file's text; undefined when it does not exist. */
  readonly readFile: (path: string) => string | undefined;
  readonly hostname: () => string;
  /** The namespace of the kubeconfig's current context, if any. */
  readonly kubeConfigNamespace: string | undefined;
}

/** The resolved settings. */
export interface KubernetesSettings {
  /** Namespace to watch; undefined means all namespaces. */
  readonly watchNamespace: string | undefined;
  /** darkroom's own namespace (the Lease's). */
  readonly ownNamespace: string;
  /** Identity in the Lease. */
  readonly identity: string;
}

export function resolveKubernetesSettings(input: KubernetesSettingsInput, surroundings: KubernetesSurroundings): KubernetesSettings {
  // `||`, not `??`: an empty namespace file or context namespace falls through to the next source.
  const ownNamespace =
    input.podNamespace || surroundings.readFile(serviceAccountNamespaceFile)?.trim() || surroundings.kubeConfigNamespace || 'default';
  const watchNamespace = input.watchNamespace === '*' ? undefined : (input.watchNamespace ?? ownNamespace);
  return { watchNamespace, ownNamespace, identity: input.podName ?? surroundings.hostname() };
}
