/**
 * The Dockerfile, without a container engine: linted by dockerfile-utils (the validator behind
 * the VS Code Docker extension), and held to the properties the chart relies on — Node 24, a
 * numeric non-root user (so Kubernetes can verify runAsNonRoot), node as PID 1 in exec form so it
 * receives SIGTERM, production dependencies only, and a build context that leaves the rest out.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './helm.js';

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
  .join('\n')
  .replace(/\\\n\s*/g, ' ')
  .split('\n');
const last = (keyword: string) => instructions.filter((line) => line.startsWith(`${keyword} `)).at(-1) ?? '';

describe('Dockerfile', () => {
  it('passes dockerfile-utils lint', () => {
    const result = spawnSync(join(root, 'node_modules/.bin/node'), [join(root, 'node_modules/dockerfile-utils/bin/dockerfile-utils'), 'lint', '--json', 'Dockerfile'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
  });

  it('builds on Node 24 in several stages and runs only the last', () => {
    expect(instructions).toContain('ARG NODE_IMAGE=node:24-bookworm-slim');
    expect(instructions.filter((line) => line.startsWith('FROM ')).length).toBeGreaterThanOrEqual(2);
    expect(instructions).toContainEqual(expect.stringMatching(/^RUN npm ci --omit=dev /));
  });

  it('runs node directly, in exec form, as a numeric non-root user', () => {
    const command = JSON.parse(last('ENTRYPOINT').replace('ENTRYPOINT ', '')) as string[];
    expect(command[0]).toBe('node');
    expect(command.at(-1)).toBe('dist/main.js');
    expect(command.slice(1, -1).every((arg) => arg.startsWith('--'))).toBe(true);
    expect(instructions.some((line) => line.startsWith('CMD ') && line.includes('npm'))).toBe(false);
    const [user = ''] = last('USER').replace('USER ', '').split(':');
    expect(Number(user)).toBeGreaterThan(0);
  });

  it("gives node only flags that this project's Node 24 accepts (a misspelt V8 flag would stop the pod)", () => {
    const flags = (JSON.parse(last('ENTRYPOINT').replace('ENTRYPOINT ', '')) as string[]).slice(1, -1);
    expect(flags).toContain('--heap-growing-percent=100');
    const result = spawnSync(join(root, 'node_modules/.bin/node'), [...flags, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    // node refuses an option it does not know ("bad option", exit 9) before running anything.
    expect(result.status).toBe(0);
  });

  it('keeps the build context to the sources the build needs', () => {
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'));
    expect(ignore[0]).toBe('*');
    expect(ignore).toEqual(expect.arrayContaining(['!package.json', '!package-lock.json', '!src/']));
  });
});
