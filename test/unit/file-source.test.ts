import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppSnapshot } from '../../src/config/app-registry.js';
import { FileConfigSource } from '../../src/config/sources/file-source.js';
import { createLogger } from '../../src/logging/logger.js';

const app = (name: string, bucket = 'bucket-a') =>
  `apiVersion: darkroom.dev/v1alpha1\nkind: DarkroomApp\nmetadata: {name: ${name}}\nspec: {storage: {provider: s3, bucket: ${bucket}}}\n`;

let dir: string;
let source: FileConfigSource | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'darkroom-file-source-'));
});
afterEach(async () => {
  await source?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function waitFor(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('FileConfigSource', () => {
  it('refuses to start on a missing file', async () => {
    source = new FileConfigSource({ path: join(dir, 'absent.yaml'), logger: createLogger('silent') });
    await expect(source.start(() => undefined)).rejects.toThrow(/ENOENT/);
  });

  it('re-reads the file when it changes, including an atomic replace, and keeps the last good apps when the file cannot be read', async () => {
    const path = join(dir, 'apps.yaml');
    await writeFile(path, app('one'));
    const snapshots: AppSnapshot[] = [];
    source = new FileConfigSource({ path, logger: createLogger('silent'), debounceMs: 20 });
    await source.start((snapshot) => snapshots.push(snapshot));
    expect([...snapshots[0]!.apps.keys()]).toEqual(['one']);

    await writeFile(path, `${app('one')}---\n${app('two')}`);
    await waitFor(() => snapshots.at(-1)!.apps.size === 2);

    // A ConfigMap update is a rename over the file, not a write into it.
    await writeFile(join(dir, 'next.yaml'), app('three'));
    await rename(join(dir, 'next.yaml'), path);
    await waitFor(() => snapshots.at(-1)!.apps.has('three'));

    const count = snapshots.length;
    await rm(path);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The file vanished: nothing new was delivered, the last good apps stay.
    expect(snapshots.length).toBe(count);
    expect([...snapshots.at(-1)!.apps.keys()]).toEqual(['three']);
  });
});
