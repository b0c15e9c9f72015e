/**
 * Installs what darkroom needs on a {@link RealKubeCluster} the way a platform team does: the CRD
 * (kubectl, --validate=false because 1.20 knows no CEL rules), the namespace, and the chart's own
 * ServiceAccount, Role and RoleBinding (helm template); then a kubeconfig with that
 * ServiceAccount's token (TokenRequest API), for darkroom processes. Shared by test/kube and bench/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { template } from '../chart/helm.js';
import { repositoryRoot, type RealKubeCluster } from './real-kube.js';

/** The release namespace (and the ServiceAccount's). */
export const darkroomNamespace = 'darkroom';

/** kubectl apply of objects, as the admin. */
export function applyObjects(cluster: RealKubeCluster, ...objects: Record<string, unknown>[]): void {
  cluster.kubectl(['apply', '-f', '-'], objects.map((object) => `---\n${stringify(object)}`).join(''));
}

/** Installs CRD, namespace and the chart's RBAC; returns the path of darkroom's kubeconfig. */
export async function installDarkroom(cluster: RealKubeCluster, options: { secretNames: readonly string[] }): Promise<string> {
  cluster.kubectl(['apply', '--validate=false', '-f', join(repositoryRoot, 'crds/darkroomapp.yaml')]);
  cluster.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/darkroomapps.darkroom.dev']);
  cluster.kubectl(['create', 'namespace', darkroomNamespace]);
  // The chart as a whole needs 1.27 (its kubeVersion: PDB and HPA kinds); these objects are the same on 1.20.
  const set = options.secretNames.length > 0 ? [`rbac.secretNames={${options.secretNames.join(',')}}`] : [];
  const rbac = template({ set }).filter((object) =>
    ['ServiceAccount', 'Role', 'RoleBinding'].includes(object.kind),
  );
  applyObjects(cluster, ...(rbac as unknown as Record<string, unknown>[]));
  const token = await cluster.serviceAccountToken(darkroomNamespace, 'darkroom');
  const dir = join(repositoryRoot, 'test-artifacts');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `kube-real-${process.pid}.kubeconfig`);
  await writeFile(path, cluster.kubeconfig({ token, namespace: darkroomNamespace }), { mode: 0o600 });
  return path;
}

/** A DarkroomApp in the release namespace (S3 bucket `test-bucket`, prefix `<name>/`). */
export function darkroomApp(name: string, storage: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'darkroom.dev/v1alpha1',
    kind: 'DarkroomApp',
    metadata: { name, namespace: darkroomNamespace },
    spec: { allowPublicUpload: true, storage: { provider: 's3', bucket: 'test-bucket', prefix: `${name}/`, ...storage } },
  };
}
