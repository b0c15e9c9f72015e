/**
 * The chart as CI sees it: `helm lint --strict`, `helm template` with the default values and with
 * every optional feature on (charts/darkroom/ci/*-values.yaml), every rendered object validated
 * against the Kubernetes API schemas, and values.schema.json refusing what it must.
 */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { helm, kinds, root, template, templateArgs } from './helm.js';
import { schemaProblems } from './k8s-schemas.js';

const ciValues = readdirSync(join(root, 'charts/darkroom/ci'))
  .filter((file) => file.endsWith('-values.yaml'))
  .map((file) => `charts/darkroom/ci/${file}`);
const monitoring = ['monitoring.coreos.com/v1'];

describe('helm lint --strict', () => {
  it('finds CI values files for the default and the all-features render', () => {
    expect(ciValues).toEqual(expect.arrayContaining(['charts/darkroom/ci/default-values.yaml', 'charts/darkroom/ci/all-features-values.yaml']));
  });

  it.each(['(chart defaults)', ...ciValues])('passes with %s', (valuesFile) => {
    const result = helm(['lint', '--strict', join(root, 'charts/darkroom'), ...(valuesFile.startsWith('(') ? [] : ['--values', join(root, valuesFile)])]);
    expect(result.stderr + result.stdout).toContain('0 chart(s) failed');
    expect(result.status).toBe(0);
  });
});

describe('rendered manifests match the Kubernetes API schemas', () => {
  const renders = [
    { name: 'defaults', options: {} },
    { name: 'defaults with the monitoring API', options: { apiVersions: monitoring } },
    { name: 'defaults on Kubernetes 1.29 (exec preStop)', options: { kubeVersion: '1.29.0' } },
    ...ciValues.map((file) => ({ name: file, options: { valuesFiles: [file], apiVersions: monitoring } })),
  ];

  it.each(renders)('$name', ({ options }) => {
    const objects = template(options);
    expect(objects.length).toBeGreaterThan(5);
    expect(objects.flatMap(schemaProblems)).toEqual([]);
  });

  it('the validator does catch a schema violation (a string where an integer belongs)', () => {
    const [deployment] = template().filter((object) => object.kind === 'Deployment');
    expect(deployment).toBeDefined();
    const broken = structuredClone(deployment!);
    (broken.spec as { replicas: unknown }).replicas = 'two';
    expect(schemaProblems(broken).join()).toMatch(/replicas must be integer/);
  });

  it('renders the default set of objects, and every optional one with all features on', () => {
    expect(kinds(template())).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount']);
    expect(kinds(template({ valuesFiles: ['charts/darkroom/ci/all-features-values.yaml'], apiVersions: monitoring }))).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'Ingress',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'PrometheusRule',
      'Role',
      'RoleBinding',
      'Secret',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
  });

  it('labels every object with the recommended labels, and selects on name and instance only', () => {
    for (const object of template({ valuesFiles: ['charts/darkroom/ci/all-features-values.yaml'], apiVersions: monitoring })) {
      expect(object.metadata.labels, object.kind).toMatchObject({
        'app.kubernetes.io/name': 'darkroom',
        'app.kubernetes.io/instance': 'darkroom',
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/part-of': 'darkroom',
        'helm.sh/chart': expect.stringMatching(/^darkroom-\d/) as unknown,
      });
    }
    const deployment = template().find((object) => object.kind === 'Deployment');
    expect((deployment?.spec as { selector: unknown }).selector).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 'darkroom', 'app.kubernetes.io/instance': 'darkroom' },
    });
  });
});

describe('values.schema.json', () => {
  const refused = (set: string[]) => helm(templateArgs({ set }));

  it.each([
    ['an unknown top-level key', ['replicaCout=3'], /Additional property replicaCout is not allowed/],
    ['an unknown nested key', ['metrics.serviceMonitor.enabeld=true'], /Additional property enabeld is not allowed/],
    ['a wrong type', ['replicaCount=two'], /replicaCount: Invalid type/],
    ['a bad enum value', ['config.logLevel=loud'], /logLevel/],
    ['a Redis URL of the wrong scheme', ['redis.url=http://redis:6379'], /redis\.url|url: Does not match pattern/],
    ['a Cluster seed that is not host:port', ['redis.clusterNodes={redis-0}'], /clusterNodes\/0|clusterNodes.*Does not match pattern/],
    ['a sentinel that is not host:port', ['redis.sentinel.addresses={redis://s:26379}', 'redis.sentinel.name=p'], /addresses\/0|addresses.*Does not match pattern/],
    ['Redis TLS as a string', ['redis.tls=yes'], /tls: Invalid type/],
    ['a bad Prometheus duration', ['metrics.prometheusRule.cdnFallback.for=ten minutes'], /for: Does not match pattern/],
  ])('rejects %s', (_name, set, message) => {
    const result = refused(set);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  it('accepts the documented values', () => {
    expect(refused(['replicaCount=3', 'metrics.serviceMonitor.enabled=false']).status).toBe(0);
  });

  it("accepts skaffold.yaml's development values for the chart", () => {
    const skaffold = parse(readFileSync(join(root, 'skaffold.yaml'), 'utf8')) as {
      deploy: { helm: { releases: { chartPath: string; setValues: Record<string, string | number>; setValueTemplates: Record<string, string> }[] } };
    };
    const [release] = skaffold.deploy.helm.releases;
    expect(release?.chartPath).toBe('charts/darkroom');
    const set = [
      ...Object.entries(release?.setValues ?? {}).map(([key, value]) => `${key}=${value}`),
      // What skaffold substitutes for the image templates after a build.
      ...Object.keys(release?.setValueTemplates ?? {}).map((key) => `${key}=${key === 'image.tag' ? `abc123@sha256:${'0'.repeat(64)}` : 'darkroom'}`),
    ];
    const result = refused(set);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('fails the render when the grace period does not cover the preStop pause and the drain', () => {
    const result = refused(['terminationGracePeriodSeconds=30', 'lifecycle.preStopSleepSeconds=10', 'config.drainTimeoutSeconds=20']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/terminationGracePeriodSeconds \(30\) must exceed .* \(30\)/);
  });
});
