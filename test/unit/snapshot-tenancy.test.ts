/**
 * The snapshot build's tenancy rules, shared by the file and Kubernetes sources: one owner per app
 * name (oldest, then namespace name), and the per-namespace storage policy for apps that sign with
 * darkroom's own identity.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/settings.js';
import { startDarkroom } from '../../src/darkroom.js';
import { createLogger } from '../../src/logging/logger.js';
import { parseDarkroomApp } from '../../src/config/darkroom-app.js';
import { buildSnapshot, type LocatedParseResult } from '../../src/config/snapshot.js';
import { parseStoragePolicy, storageRefusal } from '../../src/config/storage-policy.js';

function located(namespace: string, name: string, storage: Record<string, unknown>, createdAt?: string, spec: Record<string, unknown> = {}): LocatedParseResult {
  return {
    where: `${namespace}/${name}`,
    namespace,
    createdAt,
    result: parseDarkroomApp({ apiVersion: 'darkroom.dev/v1alpha1', kind: 'DarkroomApp', metadata: { name, namespace }, spec: { storage: { provider: 's3', ...storage }, ...spec } }),
  };
}

describe('one owner per app name', () => {
  it('the oldest object keeps the name, whatever the namespace names or the order of arrival', () => {
    const snapshot = buildSnapshot([
      located('team-a', 'shop', { bucket: 'a-bucket' }, '2026-03-02T10:00:00Z'),
      located('team-b', 'shop', { bucket: 'b-bucket' }, '2026-03-01T10:00:00Z'),
      located('team-c', 'shop', { bucket: 'c-bucket' }, '2026-03-03T10:00:00Z'),
    ]);
    expect(snapshot.apps.get('shop')?.metadata.namespace).toBe('team-b');
    for (const loser of ['team-a/shop', 'team-c/shop']) {
      expect(snapshot.refused.get(loser)).toMatchObject({ reason: 'NameConflict' });
      expect(snapshot.refused.get(loser)?.problems[0]?.message).toContain('DarkroomApp team-b/shop');
    }
    expect(snapshot.refused.has('team-b/shop')).toBe(false);
  });

  it('equal creation times: the namespace name decides, and sub-second times compare as times', () => {
    const tie = buildSnapshot([located('team-b', 'shop', { bucket: 'abc' }, '2026-03-01T10:00:00Z'), located('team-a', 'shop', { bucket: 'abc' }, '2026-03-01T10:00:00Z')]);
    expect(tie.apps.get('shop')?.metadata.namespace).toBe('team-a');
    const fraction = buildSnapshot([located('team-a', 'shop', { bucket: 'abc' }, '2026-03-01T10:00:00.500Z'), located('team-b', 'shop', { bucket: 'abc' }, '2026-03-01T10:00:00Z')]);
    expect(fraction.apps.get('shop')?.metadata.namespace).toBe('team-b');
  });

  it('an owner with an invalid spec keeps the name: the name answers APP_CONFIG_INVALID, the newer claimant is NameConflict', () => {
    const snapshot = buildSnapshot([
      located('team-a', 'shop', { bucket: 'abc' }, '2026-03-01T10:00:00Z', { upload: { maxBytes: -1 } }),
      located('team-b', 'shop', { bucket: 'abc' }, '2026-03-02T10:00:00Z'),
    ]);
    expect(snapshot.apps.has('shop')).toBe(false);
    expect(snapshot.invalid.get('shop')).toMatchObject({ reason: 'InvalidSpec', namespace: 'team-a' });
    expect(snapshot.refused.get('team-b/shop')).toMatchObject({ reason: 'NameConflict' });
  });
});

describe('the storage policy', () => {
  const policy = parseStoragePolicy('team-a: [a-images, shared/team-a]\nteam-b: ["shared/team-b/"]\nempty: []\n', 'policy.yaml');

  it('allows listed buckets and prefixes per namespace, folder-wise', () => {
    const allowed = (namespace: string, bucket: string, prefix = '') => storageRefusal(policy, namespace, { provider: 's3', bucket, prefix }) === undefined;
    expect(allowed('team-a', 'a-images')).toBe(true);
    expect(allowed('team-a', 'a-images', 'any/thing/')).toBe(true);
    expect(allowed('team-a', 'shared', 'team-a/')).toBe(true);
    expect(allowed('team-a', 'shared', 'team-a/deeper/')).toBe(true);
    expect(allowed('team-a', 'shared', 'team-ab/')).toBe(false); // "shared/team-a" is the folder team-a/
    expect(allowed('team-a', 'shared')).toBe(false);
    expect(allowed('team-a', 'shared', 'team-b/')).toBe(false);
    expect(allowed('team-b', 'a-images')).toBe(false);
    expect(allowed('empty', 'a-images')).toBe(false);
    expect(allowed('unlisted', 'a-images')).toBe(false);
  });

  it('does not restrict apps with their own credentials, nor anyone without a policy', () => {
    expect(storageRefusal(policy, 'team-b', { provider: 's3', bucket: 'a-images', prefix: '', credentialsSecretRef: { name: 'own' } })).toBeUndefined();
    expect(storageRefusal(undefined, 'team-b', { provider: 's3', bucket: 'a-images', prefix: '' })).toBeUndefined();
  });

  it('refuses an app outside its list with StorageNotAllowed, naming bucket and namespace for .status', () => {
    const snapshot = buildSnapshot([located('team-b', 'shop', { bucket: 'a-images' }), located('team-a', 'blog', { bucket: 'a-images' })], { storagePolicy: policy });
    expect([...snapshot.apps.keys()]).toEqual(['blog']);
    expect(snapshot.invalid.get('shop')).toMatchObject({ reason: 'StorageNotAllowed', namespace: 'team-b' });
    expect(snapshot.refused.get('team-b/shop')?.problems[0]?.message).toMatch(/namespace "team-b" may not use bucket "a-images"/);
  });

  it('documents without a namespace (an apps file) count as namespace "default"', () => {
    const document = { apiVersion: 'darkroom.dev/v1alpha1', kind: 'DarkroomApp', metadata: { name: 'demo' }, spec: { storage: { provider: 's3', bucket: 'a-images' } } };
    const refused = buildSnapshot([{ where: 'file', result: parseDarkroomApp(document) }], { storagePolicy: policy });
    expect(refused.invalid.get('demo')).toMatchObject({ reason: 'StorageNotAllowed', namespace: 'default' });
    const allowed = buildSnapshot([{ where: 'file', result: parseDarkroomApp(document) }], { storagePolicy: parseStoragePolicy('default: [a-images]', 'p') });
    expect(allowed.apps.has('demo')).toBe(true);
  });

  it('a malformed policy names every problem', () => {
    expect(() => parseStoragePolicy('Team_A: [x]\nteam-b: [UPPER, "ok/../x"]\n', 'policy.yaml')).toThrow(/policy\.yaml is not a storage policy.*Team_A.*keys must be namespace names.*"UPPER".*not a bucket name.*must not contain \. or \.\./s);
    expect(() => parseStoragePolicy('team-a: a-bucket', 'policy.yaml')).toThrow(/policy\.yaml is not a storage policy/);
    expect(() => parseStoragePolicy('{', 'policy.yaml')).toThrow(/not YAML/);
  });
});

describe('DARKROOM_STORAGE_POLICY_FILE at start', () => {
  it('a missing or malformed file fails the start with a message naming the setting', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'darkroom-policy-'));
    try {
      const bad = join(dir, 'policy.yaml');
      await writeFile(bad, 'team-a: not-a-list\n');
      const start = (file: string) =>
        startDarkroom(loadSettings({ PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', DARKROOM_APPS_FILE: 'examples/apps.yaml', DARKROOM_STORAGE_POLICY_FILE: file }), { logger: createLogger('silent') });
      await expect(start(bad)).rejects.toThrow(/DARKROOM_STORAGE_POLICY_FILE .*policy\.yaml is not a storage policy/);
      await expect(start(join(dir, 'absent.yaml'))).rejects.toThrow(/DARKROOM_STORAGE_POLICY_FILE: cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
