/**
 * The chart's crds/ is a byte-for-byte copy of the top-level crds/ (the single source). Helm
 * installs the chart's copy on first install only, so a drift would ship a different schema than
 * the one the code and the docs describe. Fix a failure with `scripts/sync-crds.sh`.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartDir, parseManifests, root } from './helm.js';
import { schemaProblems } from './k8s-schemas.js';

const topLevel = join(root, 'crds');
const inChart = join(chartDir, 'crds');
// git keeps no empty directory, so a missing one holds no CRD.
const yamlFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((file) => /\.ya?ml$/.test(file)).sort() : []);
const fix = 'run scripts/sync-crds.sh';

describe('CRDs shipped in the chart', () => {
  it('are the same files as the top-level crds/', () => {
    expect(yamlFiles(inChart), fix).toEqual(yamlFiles(topLevel));
  });

  it.each(yamlFiles(topLevel))('%s is identical byte for byte', (file) => {
    const source = readFileSync(join(topLevel, file));
    const copy = readFileSync(join(inChart, file));
    expect(copy.equals(source), fix).toBe(true);
  });

  it.each(yamlFiles(topLevel))('%s is a valid apiextensions.k8s.io/v1 CustomResourceDefinition', (file) => {
    const objects = parseManifests(readFileSync(join(topLevel, file), 'utf8'));
    expect(objects.map((object) => object.kind)).toEqual(objects.map(() => 'CustomResourceDefinition'));
    expect(objects.flatMap(schemaProblems)).toEqual([]);
  });

  it('scripts/sync-crds.sh --check agrees (CI can run it without npm)', () => {
    const result = spawnSync('sh', [join(root, 'scripts/sync-crds.sh'), '--check'], { encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});
