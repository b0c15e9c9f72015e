/**
 * A darkroom started from an apps file never loads the Kubernetes client (about 2,000 modules: 50 MB
 * of RSS and 0.35 s of start-up, measured), for a source it does not use. The
 * check runs in its own process (src/ through tsx on the project's Node 24), whose resolve hook
 * records every module of the Kubernetes source or client; after darkroom has started and closed,
 * the process imports the Kubernetes source itself, so the test also sees that the hook records.
 */
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '../..');
const nodeBin = join(root, 'node_modules/.bin/node');

const probe = `
import { registerHooks } from 'node:module';
const kubernetesModules = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    if (/@kubernetes\\/client-node|config\\/sources\\/kubernetes\\//.test(resolved.url)) kubernetesModules.add(resolved.url);
    return resolved;
  },
});
const { loadSettings } = await import('./src/config/settings.ts');
const { startDarkroom } = await import('./src/darkroom.ts');
const darkroom = await startDarkroom(loadSettings({ PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', DARKROOM_APPS_FILE: 'examples/apps.yaml' }));
const ready = (await fetch(darkroom.url + '/readyz')).status;
await darkroom.close();
const inFileMode = [...kubernetesModules];
await import('./src/config/sources/kubernetes/create-source.ts');
console.log(JSON.stringify({ ready, inFileMode, afterImportingTheSource: kubernetesModules.size }));
`;

describe('a darkroom started from an apps file', () => {
  it('serves without loading the Kubernetes source or client', async () => {
    const { stdout } = await promisify(execFile)(nodeBin, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      timeout: 60_000,
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { ready: number; inFileMode: string[]; afterImportingTheSource: number };
    expect(result.ready).toBe(200);
    expect(result.inFileMode).toEqual([]);
    // The hook does see those modules once something imports them.
    expect(result.afterImportingTheSource).toBeGreaterThan(10);
  }, 90_000);
});
