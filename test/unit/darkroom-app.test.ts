import { describe, expect, it } from 'vitest';
import { parseDarkroomApp } from '../../src/config/darkroom-app.js';
import { parseAppsYaml } from '../../src/config/sources/file-source.js';
import { buildSnapshot } from '../../src/config/snapshot.js';

const base = {
  apiVersion: 'darkroom.dev/v1alpha1',
  kind: 'DarkroomApp',
  metadata: { name: 'shop' },
  spec: { storage: { provider: 's3', bucket: 'shop-images' } },
};

describe('parseDarkroomApp', () => {
  it('fills the documented defaults', () => {
    const result = parseDarkroomApp(base);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.app.spec).toMatchObject({
      allowPublicUpload: false,
      storage: { prefix: '' },
      upload: { maxBytes: 10 * 1024 * 1024, urlTTLSeconds: 900, allowedExtensions: ['jpg', 'jpeg', 'png', 'gif', 'webp'] },
      rateLimit: { requests: 60, windowSeconds: 60 },
    });
  });

  it.each([
    [{ storage: { provider: 'azure', bucket: 'shop-images' } }, 'spec.storage.provider'],
    [{ storage: { provider: 's3', bucket: 'Shop Images' } }, 'spec.storage.bucket'],
    [{ storage: { provider: 's3', bucket: 'shop-images', prefix: '../x/' } }, 'spec.storage.prefix'],
    [{ storage: { provider: 's3', bucket: 'shop-images' }, upload: { maxBytes: -1 } }, 'spec.upload.maxBytes'],
    [{ storage: { provider: 's3', bucket: 'shop-images' }, upload: { allowedExtensions: ['svg'] } }, 'spec.upload.allowedExtensions.0'],
    [{ storage: { provider: 's3', bucket: 'shop-images' }, cdn: { url: 'javascript:alert(1)' } }, 'spec.cdn.url'],
    [{ storage: { provider: 's3', bucket: 'shop-images' }, publicBaseURL: 'https://user:pw@x.example' }, 'spec.publicBaseURL'],
    [{ storage: { provider: 's3', bucket: 'shop-images' }, rateLimit: { requests: 0 } }, 'spec.rateLimit.requests'],
    [{ storage: { provider: 's3', bucket: 'shop-images' }, alowPublicUpload: true }, 'spec'],
  ])('reports %j at %s', (spec, path) => {
    const result = parseDarkroomApp({ ...base, spec });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.name).toBe('shop');
    expect(result.problems.map((problem) => problem.path)).toContain(path);
  });
});

describe('parseAppsYaml + buildSnapshot', () => {
  it('serves the valid documents and reports each invalid one by name and field path', () => {
    const yaml = `
apiVersion: darkroom.dev/v1alpha1
kind: DarkroomApp
metadata: {name: good}
spec: {storage: {provider: s3, bucket: good-bucket}}
---
apiVersion: darkroom.dev/v1alpha1
kind: DarkroomApp
metadata: {name: bad}
spec: {storage: {provider: s3, bucket: good-bucket}, upload: {urlTTLSeconds: 0}}
---
---
kind: Something
metadata: {}
---
a: [unclosed
`;
    const snapshot = buildSnapshot(parseAppsYaml(yaml, 'apps.yaml'));
    expect([...snapshot.apps.keys()]).toEqual(['good']);
    expect(snapshot.invalid.get('bad')?.problems).toEqual([expect.objectContaining({ path: 'spec.upload.urlTTLSeconds' })]);
    expect(snapshot.unnamedInvalid.map((document) => document.where)).toEqual(['apps.yaml document 4', 'apps.yaml document 5']);
  });

  it('serves the first of two documents claiming one name and refuses the other, naming the first', () => {
    const doc = (bucket: string) => `apiVersion: darkroom.dev/v1alpha1\nkind: DarkroomApp\nmetadata: {name: twin}\nspec: {storage: {provider: s3, bucket: ${bucket}}}\n`;
    const snapshot = buildSnapshot(parseAppsYaml(`${doc('first')}---\n${doc('second')}`, 'apps.yaml'));
    expect(snapshot.apps.get('twin')?.spec.storage.bucket).toBe('first');
    expect(snapshot.invalid.size).toBe(0);
    expect(snapshot.refused.get('default/twin')).toMatchObject({ reason: 'NameConflict', namespace: 'default' });
    expect(snapshot.refused.get('default/twin')?.problems[0]?.message).toContain('DarkroomApp default/twin');
  });

  it('accepts the shipped examples', async () => {
    const { readFile } = await import('node:fs/promises');
    const snapshot = buildSnapshot(parseAppsYaml(await readFile('examples/apps.yaml', 'utf8'), 'examples/apps.yaml'));
    expect(snapshot.invalid.size + snapshot.unnamedInvalid.length).toBe(0);
    expect(snapshot.apps.get('demo')?.spec.allowPublicUpload).toBe(true);
  });
});
