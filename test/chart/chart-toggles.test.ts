/**
 * What each value switches on and off, and the properties platform teams check first: the PDB only
 * with more than one replica, monitoring objects only when the monitoring API is served, the
 * `restricted` pod security profile, probes that never depend on dependencies, least-privilege RBAC,
 * Redis as a Secret, and the Grafana dashboard ConfigMap.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { leaseName } from '../../src/config/sources/kubernetes/lease-elector.js';
import { parseStoragePolicy, storageRefusal } from '../../src/config/storage-policy.js';
import { helm, only, root, template, templateArgs, type K8sObject } from './helm.js';

const monitoring = ['monitoring.coreos.com/v1'];
const allFeatures = 'charts/darkroom/ci/all-features-values.yaml';

interface Container {
  name: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
  securityContext: Record<string, unknown>;
  startupProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  lifecycle?: { preStop: { sleep?: { seconds: number }; exec?: { command: string[] } } };
  volumeMounts: { name: string; mountPath: string }[];
  ports: { name: string; containerPort: number }[];
}
interface PodSpec {
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: { name: string; emptyDir?: unknown; configMap?: { name: string } }[];
  terminationGracePeriodSeconds: number;
  topologySpreadConstraints: { topologyKey: string }[];
  hostNetwork?: boolean;
  hostPID?: boolean;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

function podSpec(objects: K8sObject[]): PodSpec {
  return (only(objects, 'Deployment').spec as { template: { spec: PodSpec } }).template.spec;
}
function container(objects: K8sObject[]): Container {
  const [first] = podSpec(objects).containers;
  if (!first) throw new Error('no container');
  return first;
}
function envOf(objects: K8sObject[], name: string) {
  return container(objects).env?.find((variable) => variable.name === name);
}
function rules(object: K8sObject): Rule[] {
  return object.rules as Rule[];
}
const has = (objects: K8sObject[], kind: string) => objects.some((object) => object.kind === kind);

describe('PodDisruptionBudget', () => {
  it.each([
    [['replicaCount=1'], false],
    [['replicaCount=2'], true],
    [['replicaCount=2', 'podDisruptionBudget.enabled=false'], false],
    [['replicaCount=5', 'autoscaling.enabled=true', 'autoscaling.minReplicas=1'], false],
    [['replicaCount=1', 'autoscaling.enabled=true', 'autoscaling.minReplicas=2'], true],
  ])('with %j is rendered: %s', (set, expected) => {
    expect(has(template({ set }), 'PodDisruptionBudget')).toBe(expected);
  });

  it('lets crash-looping pods be evicted and allows one disruption at a time', () => {
    expect(only(template(), 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
  });
});

describe('HorizontalPodAutoscaler', () => {
  it('is autoscaling/v2 with a scale-down stabilisation window, and the Deployment then omits replicas', () => {
    const objects = template({ set: ['autoscaling.enabled=true', 'autoscaling.minReplicas=3', 'autoscaling.maxReplicas=9'] });
    const hpa = only(objects, 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 9, behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } });
    expect(only(objects, 'Deployment').spec).not.toHaveProperty('replicas');
  });

  it('is absent by default, and the Deployment sets replicas', () => {
    const objects = template({ set: ['replicaCount=4'] });
    expect(has(objects, 'HorizontalPodAutoscaler')).toBe(false);
    expect(only(objects, 'Deployment').spec).toMatchObject({ replicas: 4 });
  });
});

describe('monitoring objects', () => {
  it('are not rendered when the cluster does not serve monitoring.coreos.com/v1', () => {
    const objects = template();
    expect(has(objects, 'ServiceMonitor')).toBe(false);
    expect(has(objects, 'PrometheusRule')).toBe(false);
  });

  it('are rendered when it does, scraping the admin port with the selector labels', () => {
    const objects = template({ apiVersions: monitoring, set: ['metrics.serviceMonitor.additionalLabels.release=kps'] });
    const serviceMonitor = only(objects, 'ServiceMonitor');
    expect(serviceMonitor.metadata.labels).toMatchObject({ release: 'kps' });
    expect(serviceMonitor.spec).toMatchObject({
      namespaceSelector: { matchNames: ['darkroom'] },
      endpoints: [{ port: 'admin', path: '/metrics' }],
    });
    expect(has(objects, 'PrometheusRule')).toBe(true);
  });

  it('can each be switched off even when the API is served', () => {
    const objects = template({ apiVersions: monitoring, set: ['metrics.serviceMonitor.enabled=false', 'metrics.prometheusRule.enabled=false'] });
    expect(has(objects, 'ServiceMonitor')).toBe(false);
    expect(has(objects, 'PrometheusRule')).toBe(false);
  });
});

describe('Grafana dashboard ConfigMap', () => {
  it('carries the sidecar label and exactly the dashboard JSON', () => {
    const configMap = only(template(), 'ConfigMap', '-dashboard');
    expect(configMap.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    const shipped = (configMap.data as Record<string, string>)['darkroom.json'] ?? '';
    expect(JSON.parse(shipped)).toEqual(JSON.parse(readFileSync(join(root, 'charts/darkroom/dashboards/darkroom.json'), 'utf8')));
  });

  it('follows the configured label, namespace and annotations, and can be switched off', () => {
    const configMap = only(template({ valuesFiles: [allFeatures] }), 'ConfigMap', '-dashboard');
    expect(configMap.metadata).toMatchObject({ namespace: 'monitoring', annotations: { grafana_folder: 'Platform' } });
    expect(has(template({ set: ['metrics.dashboard.enabled=false'] }), 'ConfigMap')).toBe(false);
  });
});

describe('Deployment', () => {
  const objects = template();

  it('meets the restricted Pod Security Standard with a read-only root filesystem', () => {
    const pod = podSpec(objects);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    const securityContext = container(objects).securityContext;
    expect(securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(securityContext).not.toHaveProperty('privileged', true);
    expect((securityContext.capabilities as { add?: unknown }).add).toBeUndefined();
    // Only emptyDir volumes (restricted forbids hostPath), and /tmp is writable.
    expect(pod.volumes.every((volume) => volume.emptyDir !== undefined)).toBe(true);
    expect(container(objects).volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('probes liveness on the process only, readiness on /readyz, and starts with /healthz', () => {
    const probed = container(objects);
    expect(probed.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(probed.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(probed.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(probed.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'admin', containerPort: 9090, protocol: 'TCP' },
    ]);
  });

  it('pauses in preStop (native sleep from 1.30, exec before) within a grace period that covers the drain', () => {
    const pod = podSpec(objects);
    expect(container(objects).lifecycle?.preStop).toEqual({ sleep: { seconds: 10 } });
    expect(container(template({ kubeVersion: '1.29.0' })).lifecycle?.preStop).toEqual({ exec: { command: ['sleep', '10'] } });
    const drain = Number(envOf(objects, 'DARKROOM_DRAIN_TIMEOUT_SECONDS')?.value);
    const delay = Number(envOf(objects, 'DARKROOM_SHUTDOWN_DELAY_SECONDS')?.value);
    expect(drain).toBe(20);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(10 + delay + drain);
  });

  it('spreads replicas over zones and nodes', () => {
    expect(podSpec(objects).topologySpreadConstraints.map((constraint) => constraint.topologyKey)).toEqual([
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    ]);
  });

  it('pins the image by digest when one is given, else by tag or appVersion', () => {
    expect(container(objects)).toMatchObject({ image: 'darkroom:0.1.0' });
    expect(container(template({ set: ['image.tag=1.2.3'] }))).toMatchObject({ image: 'darkroom:1.2.3' });
    expect(container(template({ valuesFiles: [allFeatures] }))).toMatchObject({
      image: 'registry.example.com/platform/darkroom@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    });
  });

  it('watches the release namespace by default, or what config.watchNamespace says', () => {
    expect(envOf(objects, 'DARKROOM_NAMESPACE')?.value).toBe('darkroom');
    expect(envOf(template({ set: ['config.watchNamespace=*'] }), 'DARKROOM_NAMESPACE')?.value).toBe('*');
  });
});

describe('Redis', () => {
  it('is absent by default: no REDIS_URL, no Secret', () => {
    const objects = template();
    expect(envOf(objects, 'REDIS_URL')).toBeUndefined();
    expect(has(objects, 'Secret')).toBe(false);
  });

  it('given as a URL, travels in a chart-made Secret, and a change rolls the pods', () => {
    const objects = template({ set: ['redis.url=redis://:pw@redis:6379/0'] });
    const secret = only(objects, 'Secret');
    expect(Buffer.from((secret.data as Record<string, string>)['redis-url'] ?? '', 'base64').toString()).toBe('redis://:pw@redis:6379/0');
    expect(envOf(objects, 'REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata.name, key: 'redis-url' });
    const checksum = (objects: K8sObject[]) =>
      (only(objects, 'Deployment').spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['checksum/redis'];
    expect(checksum(objects)).not.toBe(checksum(template({ set: ['redis.url=redis://:other@redis:6379/0'] })));
  });

  it('given as an existing Secret, is referenced and not created', () => {
    const objects = template({ set: ['redis.existingSecret=shared-redis', 'redis.existingSecretKey=url'] });
    expect(has(objects, 'Secret')).toBe(false);
    expect(envOf(objects, 'REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'shared-redis', key: 'url' });
  });

  it('passes the failure mode and command timeout with Redis, and only with it', () => {
    const objects = template({ set: ['redis.url=redis://redis:6379', 'redis.failureMode=closed', 'redis.commandTimeoutMs=50'] });
    expect(envOf(objects, 'DARKROOM_RATELIMIT_REDIS_FAILURE_MODE')?.value).toBe('closed');
    expect(envOf(objects, 'DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS')?.value).toBe('50');
    expect(envOf(template({}), 'DARKROOM_RATELIMIT_REDIS_FAILURE_MODE')).toBeUndefined();
  });

  it('passes the transform bounds, and refuses a concurrency that would leave fewer than two libuv threads', () => {
    const defaults = template({});
    expect(['UV_THREADPOOL_SIZE', 'DARKROOM_TRANSFORM_CONCURRENCY', 'DARKROOM_TRANSFORM_QUEUE', 'DARKROOM_TRANSFORM_TIMEOUT_SECONDS'].map((name) => envOf(defaults, name)?.value)).toEqual(['4', '2', '64', '10']);
    const wider = template({ set: ['config.transforms.concurrency=6', 'config.transforms.threadPoolSize=8'] });
    expect([envOf(wider, 'UV_THREADPOOL_SIZE')?.value, envOf(wider, 'DARKROOM_TRANSFORM_CONCURRENCY')?.value]).toEqual(['8', '6']);
    const refused = helm(templateArgs({ set: ['config.transforms.concurrency=3'] }));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('config.transforms.concurrency must be at most config.transforms.threadPoolSize - 2');
  });

  const secretValue = (objects: K8sObject[], key: string) =>
    Buffer.from((only(objects, 'Secret').data as Record<string, string>)[key] ?? '', 'base64').toString();

  it('given as Cluster seeds, renders REDIS_CLUSTER_NODES, the user, TLS, and the password from a chart-made Secret', () => {
    const objects = template({ set: ['redis.clusterNodes={redis-0.redis:6379,redis-1.redis:6379}', 'redis.username=darkroom', 'redis.password=pw', 'redis.tls=true'] });
    expect(envOf(objects, 'REDIS_URL')).toBeUndefined();
    expect(envOf(objects, 'REDIS_CLUSTER_NODES')?.value).toBe('redis-0.redis:6379,redis-1.redis:6379');
    expect(envOf(objects, 'REDIS_USERNAME')?.value).toBe('darkroom');
    expect(envOf(objects, 'REDIS_TLS')?.value).toBe('on');
    const secret = only(objects, 'Secret');
    expect(Object.keys(secret.data as object)).toEqual(['redis-password']);
    expect(secretValue(objects, 'redis-password')).toBe('pw');
    expect(envOf(objects, 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata.name, key: 'redis-password', optional: false });
    expect(envOf(objects, 'DARKROOM_RATELIMIT_REDIS_FAILURE_MODE')?.value).toBe('memory');
    // No password, no Secret and no REDIS_PASSWORD; no TLS unless asked.
    const plain = template({ set: ['redis.clusterNodes={redis-0:6379}'] });
    expect(has(plain, 'Secret')).toBe(false);
    expect(envOf(plain, 'REDIS_PASSWORD')).toBeUndefined();
    expect(envOf(plain, 'REDIS_TLS')).toBeUndefined();
  });

  it('given as sentinels, renders REDIS_SENTINELS and the name, both passwords in the Secret, and opens the sentinel port', () => {
    const objects = template({
      set: ['redis.sentinel.addresses={s-0:26379,s-1:26379,s-2:26379}', 'redis.sentinel.name=rl', 'redis.sentinel.password=spw', 'redis.password=pw', 'networkPolicy.enabled=true'],
    });
    expect(envOf(objects, 'REDIS_SENTINELS')?.value).toBe('s-0:26379,s-1:26379,s-2:26379');
    expect(envOf(objects, 'REDIS_SENTINEL_NAME')?.value).toBe('rl');
    expect(secretValue(objects, 'redis-password')).toBe('pw');
    expect(secretValue(objects, 'redis-sentinel-password')).toBe('spw');
    expect(envOf(objects, 'REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef).toMatchObject({ key: 'redis-sentinel-password', optional: false });
    const egress = (only(objects, 'NetworkPolicy').spec as { egress: { ports?: { port: number }[] }[] }).egress;
    expect(egress.some((rule) => rule.ports?.some((port) => port.port === 26379) && rule.ports.some((port) => port.port === 6379))).toBe(true);
    // Without Sentinel the sentinel port stays closed.
    const clusterEgress = (only(template({ set: ['redis.clusterNodes={redis-0:6379}', 'networkPolicy.enabled=true'] }), 'NetworkPolicy').spec as { egress: { ports?: { port: number }[] }[] }).egress;
    expect(clusterEgress.some((rule) => rule.ports?.some((port) => port.port === 6379))).toBe(true);
    expect(clusterEgress.some((rule) => rule.ports?.some((port) => port.port === 26379))).toBe(false);
  });

  it('with Cluster or Sentinel and an existing Secret, takes the passwords from it, each key optional', () => {
    const objects = template({
      set: ['redis.sentinel.addresses={s-0:26379}', 'redis.sentinel.name=rl', 'redis.existingSecret=shared-redis', 'redis.existingSecretPasswordKey=pw'],
    });
    expect(has(objects, 'Secret')).toBe(false);
    expect(envOf(objects, 'REDIS_URL')).toBeUndefined();
    expect(envOf(objects, 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'shared-redis', key: 'pw', optional: true });
    expect(envOf(objects, 'REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'shared-redis', key: 'redis-sentinel-password', optional: true });
  });

  it.each([
    ['a URL and Cluster seeds', ['redis.url=redis://r:6379', 'redis.clusterNodes={a:6379}'], /set only one of url, clusterNodes and sentinel.addresses/],
    ['Cluster seeds and sentinels', ['redis.clusterNodes={a:6379}', 'redis.sentinel.addresses={s:26379}', 'redis.sentinel.name=p'], /set only one of/],
    ['sentinels without a name', ['redis.sentinel.addresses={s:26379}'], /redis.sentinel.name is required/],
    ['a password beside a URL', ['redis.url=redis://r:6379', 'redis.password=x'], /put the user and password in the URL/],
    ['a sentinel name without sentinels', ['redis.sentinel.name=p'], /only used with redis.sentinel.addresses/],
  ])('refuses %s', (_name, set, message) => {
    const result = helm(templateArgs({ set }));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  it('keeps the try-it page off', () => {
    expect(envOf(template({}), 'DARKROOM_DEMO_PAGE')).toBeUndefined();
  });
});

describe('Kubernetes versions', () => {
  it('states the Kubernetes versions the chart needs, so helm refuses an older cluster before installing anything', () => {
    const chart = readFileSync(join(root, 'charts/darkroom/Chart.yaml'), 'utf8');
    expect(chart).toMatch(/^kubeVersion: ">=1\.27\.0-0"$/m);
    const refused = helm(templateArgs({ kubeVersion: '1.26.9' }));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('kubeVersion');
    expect(template({ kubeVersion: '1.27.0' }).length).toBeGreaterThan(0);
  });
});

describe('RBAC', () => {
  const allVerbs = (objects: K8sObject[]) =>
    objects.filter((object) => object.kind === 'Role' || object.kind === 'ClusterRole').flatMap((object) => rules(object));

  it('reads DarkroomApps, patches only their status, and uses Leases in the release namespace', () => {
    const objects = template();
    expect(rules(only(objects, 'Role', '-config'))).toEqual([
      { apiGroups: ['darkroom.dev'], resources: ['darkroomapps'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['darkroom.dev'], resources: ['darkroomapps/status'], verbs: ['patch'] },
    ]);
    const leader = only(objects, 'Role', '-leader');
    expect(leader.metadata.namespace).toBe('darkroom');
    expect(rules(leader)).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [leaseName], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    expect(has(objects, 'ClusterRole')).toBe(false);
  });

  it('grants exactly the contract documented in docs/kubernetes.md', () => {
    // The "## RBAC" YAML block: the watched namespace's rules, then (after ---) the Lease's.
    const docs = readFileSync(join(root, 'docs/kubernetes.md'), 'utf8');
    const block = /## RBAC[\s\S]*?```yaml\n([\s\S]*?)```/.exec(docs)?.[1];
    expect(block).toBeDefined();
    const [configRules, leaderRules] = parseAllDocuments(block!).map((document) => document.toJS() as unknown[]);
    const objects = template({ set: ['rbac.secretNames={shop-s3}'] });
    expect(rules(only(objects, 'Role', '-config'))).toEqual(configRules);
    expect(rules(only(objects, 'Role', '-leader'))).toEqual(leaderRules);
  });

  it('never grants wildcards, and reaches Secrets only by name, read-only', () => {
    const objects = template({ valuesFiles: [allFeatures] });
    for (const rule of allVerbs(objects)) {
      expect([...rule.verbs, ...rule.resources, ...rule.apiGroups]).not.toContain('*');
      if (rule.resources.includes('secrets')) {
        expect(rule.resourceNames).toEqual(['darkroom-storage-credentials']);
        expect(rule.verbs).toEqual(['get']);
      }
    }
    expect(allVerbs(template()).some((rule) => rule.resources.includes('secrets'))).toBe(false);
  });

  it('uses a ClusterRole only when watching all namespaces, and a Role in the watched namespace otherwise', () => {
    const cluster = template({ set: ['config.watchNamespace=*'] });
    expect(only(cluster, 'ClusterRole').metadata.name).toBe('darkroom-darkroom-config');
    expect(only(cluster, 'ClusterRoleBinding').subjects).toEqual([{ kind: 'ServiceAccount', name: 'darkroom', namespace: 'darkroom' }]);
    const other = template({ set: ['config.watchNamespace=team-a'] });
    expect(only(other, 'Role', '-config').metadata.namespace).toBe('team-a');
    expect(only(other, 'RoleBinding', '-config').metadata.namespace).toBe('team-a');
  });

  it('can be left to the platform team (rbac.create=false, an existing ServiceAccount)', () => {
    const objects = template({ set: ['rbac.create=false', 'serviceAccount.create=false', 'serviceAccount.name=preset'] });
    expect(objects.filter((object) => /Role|ServiceAccount/.test(object.kind))).toEqual([]);
    expect(podSpec(objects)).toMatchObject({ serviceAccountName: 'preset' });
  });
});

describe('Service, Ingress and NetworkPolicy', () => {
  it('the Service exposes the API and admin ports; the Ingress routes only to the API port', () => {
    const objects = template({ valuesFiles: [allFeatures] });
    expect((only(objects, 'Service').spec as { ports: { name: string }[] }).ports.map((port) => port.name)).toEqual(['http', 'admin']);
    const paths = (only(objects, 'Ingress').spec as { rules: { http: { paths: { backend: { service: { port: unknown } } }[] } }[] }).rules.flatMap(
      (rule) => rule.http.paths,
    );
    expect(paths.map((path) => path.backend.service.port)).toEqual([{ name: 'http' }]);
  });

  it('the HTTPRoute is off by default; on, it sends only the public paths to the API port of the Service', () => {
    expect(has(template(), 'HTTPRoute')).toBe(false);
    const objects = template({ valuesFiles: [allFeatures] });
    const route = only(objects, 'HTTPRoute');
    expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(route.metadata.annotations).toEqual({ 'example.com/owner': 'platform' });
    const spec = route.spec as {
      parentRefs: unknown[];
      hostnames: string[];
      rules: { matches: { path: { type: string; value: string } }[]; backendRefs: { name: string; port: number }[] }[];
    };
    expect(spec.parentRefs).toEqual([{ name: 'public', namespace: 'gateway-system', sectionName: 'https' }]);
    expect(spec.hostnames).toEqual(['img.example.com', '*.img.example.com']);
    expect(spec.rules.flatMap((rule) => rule.matches.map((match) => match.path))).toEqual([
      { type: 'PathPrefix', value: '/darkroom' },
      { type: 'Exact', value: '/openapi.json' },
    ]);
    const service = only(objects, 'Service');
    const ports = (service.spec as { ports: { name: string; port: number }[] }).ports;
    const apiPort = ports.find((port) => port.name === 'http')?.port;
    const adminPort = ports.find((port) => port.name === 'admin')?.port;
    expect(spec.rules.flatMap((rule) => rule.backendRefs)).toEqual([{ name: service.metadata.name, port: apiPort }]);
    expect(apiPort).not.toBe(adminPort);
  });

  it('the HTTPRoute follows a changed Service port, and may omit host names', () => {
    const route = only(template({ set: ['httpRoute.enabled=true', 'service.port=8080', 'httpRoute.hostnames=null'] }), 'HTTPRoute');
    const spec = route.spec as { hostnames?: unknown; rules: { backendRefs: { port: number }[] }[] };
    expect(spec.rules[0]?.backendRefs[0]?.port).toBe(8080);
    expect(spec).not.toHaveProperty('hostnames');
  });

  it('the NetworkPolicy denies by default and opens the admin port only to Prometheus peers', () => {
    const policy = only(template({ valuesFiles: [allFeatures] }), 'NetworkPolicy').spec as {
      policyTypes: string[];
      ingress: { ports: { port: string }[]; from: unknown[] }[];
      egress: { ports: { port: number }[] }[];
    };
    expect(policy.policyTypes).toEqual(['Ingress', 'Egress']);
    const admin = policy.ingress.find((rule) => rule.ports.some((port) => port.port === 'admin'));
    expect(admin?.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
    expect(policy.egress.flatMap((rule) => rule.ports.map((port) => port.port))).toEqual([53, 53, 443, 6443, 6379, 443]);
    expect(has(template(), 'NetworkPolicy')).toBe(false);
  });
});

describe('trust boundaries', () => {
  it('networkPolicy.gateway: only the gateway\'s pods (both selectors, one peer) reach the public port; apiFrom is the fallback', () => {
    type Policy = { ingress: { ports: { port: string }[]; from?: unknown[] }[] };
    const apiRule = (objects: K8sObject[]) => (only(objects, 'NetworkPolicy').spec as Policy).ingress.find((rule) => rule.ports.some((port) => port.port === 'http'));
    expect(apiRule(template({ valuesFiles: [allFeatures] }))?.from).toEqual([
      {
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
      },
    ]);
    // A gateway in the release namespace: a pod selector alone.
    expect(apiRule(template({ setJson: ['networkPolicy.enabled=true', 'networkPolicy.gateway={"podSelector":{"matchLabels":{"app":"oauth2-proxy"}}}'] }))?.from).toEqual([
      { podSelector: { matchLabels: { app: 'oauth2-proxy' } } },
    ]);
    expect(apiRule(template({ set: ['networkPolicy.enabled=true'] }))?.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }]);
  });

  it('config.storagePolicy renders a ConfigMap darkroom accepts, mounted and named by DARKROOM_STORAGE_POLICY_FILE, rolling the pods on change', () => {
    const objects = template({ valuesFiles: [allFeatures] });
    const configMap = only(objects, 'ConfigMap', '-storage-policy') as K8sObject & { data: Record<string, string> };
    const policy = parseStoragePolicy(configMap.data['storage-policy.yaml']!, 'rendered');
    expect(storageRefusal(policy, 'team-a', { provider: 's3', bucket: 'shared-images', prefix: 'team-a/x/' })).toBeUndefined();
    expect(storageRefusal(policy, 'team-b', { provider: 's3', bucket: 'team-a-images', prefix: '' })).toMatch(/may not use/);
    const spec = podSpec(objects);
    const container = spec.containers[0]!;
    const file = container.env?.find((entry) => entry.name === 'DARKROOM_STORAGE_POLICY_FILE')?.value;
    const mount = container.volumeMounts.find((entry) => entry.name === 'storage-policy');
    expect(file).toBe(`${mount?.mountPath}/storage-policy.yaml`);
    expect(spec.volumes.find((volume) => volume.name === 'storage-policy')).toMatchObject({ configMap: { name: configMap.metadata.name } });
    const checksum = (objects: K8sObject[]) => (only(objects, 'Deployment').spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['checksum/storage-policy'];
    expect(checksum(objects)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(template({ valuesFiles: [allFeatures], set: ['config.storagePolicy.team-c[0]=c-images'] }))).not.toBe(checksum(objects));
    // No policy: nothing rendered, no setting.
    const plain = template();
    expect(plain.some((object) => object.kind === 'ConfigMap' && object.metadata.name.endsWith('-storage-policy'))).toBe(false);
    expect(podSpec(plain).containers[0]!.env?.some((entry) => entry.name === 'DARKROOM_STORAGE_POLICY_FILE')).toBe(false);
  });

  it('values.schema.json refuses a storage policy keyed by something that is not a namespace', () => {
    const result = helm(templateArgs({ set: ['config.storagePolicy.Team_A[0]=abc'] }));
    expect(result.status).not.toBe(0);
  });
});
