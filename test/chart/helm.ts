/**
 * Runs the real `helm` (node_modules/.bin/helm) on charts/darkroom and parses what it renders.
 * Release "darkroom" in namespace "darkroom", so names and rule selectors are predictable.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const root = resolve(import.meta.dirname, '../..');
export const chartDir = join(root, 'charts/darkroom');
const helmBin = join(root, 'node_modules/.bin/helm');

/** A rendered Kubernetes object, loosely typed: tests look into it by path. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface HelmResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: readonly string[]): HelmResult {
  const result = spawnSync(helmBin, args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Options for {@link template}. */
export interface TemplateOptions {
  /** Values files, relative to the repository root. */
  readonly valuesFiles?: readonly string[];
  /** `--set` expressions (helm types whole numbers and booleans; anything else stays a string). */
  readonly set?: readonly string[];
  /** `--set-json` expressions, for typed values such as `metrics.prometheusRule.cdnFallback.ratio=0.2`. */
  readonly setJson?: readonly string[];
  /** `--api-versions`, e.g. `monitoring.coreos.com/v1` to act as if the Prometheus Operator were installed. */
  readonly apiVersions?: readonly string[];
  /** `--kube-version`; default 1.31.0 (a supported release with the native preStop sleep). */
  readonly kubeVersion?: string;
}

export function templateArgs(options: TemplateOptions = {}): string[] {
  return [
    'template',
    'darkroom',
    chartDir,
    '--namespace',
    'darkroom',
    '--kube-version',
    options.kubeVersion ?? '1.31.0',
    ...(options.valuesFiles ?? []).flatMap((file) => ['--values', join(root, file)]),
    ...(options.set ?? []).flatMap((expression) => ['--set', expression]),
    ...(options.setJson ?? []).flatMap((expression) => ['--set-json', expression]),
    ...(options.apiVersions ?? []).flatMap((version) => ['--api-versions', version]),
  ];
}

/** `helm template`, failing loudly on a helm error; returns every rendered object. */
export function template(options: TemplateOptions = {}): K8sObject[] {
  const result = helm(templateArgs(options));
  if (result.status !== 0) throw new Error(`helm template failed (${result.status}): ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`rendered YAML does not parse: ${document.errors[0]?.message}`);
      return document.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

/** The one object of a kind (and name suffix, when several share the kind); throws otherwise. */
export function only(objects: readonly K8sObject[], kind: string, nameSuffix = ''): K8sObject {
  const found = objects.filter((object) => object.kind === kind && object.metadata.name.endsWith(nameSuffix));
  if (found.length !== 1) throw new Error(`expected one ${kind}${nameSuffix ? ` named *${nameSuffix}` : ''}, found ${found.length}`);
  return found[0] as K8sObject;
}

export function kinds(objects: readonly K8sObject[]): string[] {
  return objects.map((object) => object.kind).sort();
}
