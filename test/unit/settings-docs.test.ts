/** The process settings are a user contract: each one the schema reads has a row in the README's settings table. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settingNames } from '../../src/config/settings.js';

const readme = readFileSync('README.md', 'utf8');
const section = readme.slice(readme.indexOf('### Process settings'), readme.indexOf('### `DarkroomApp`'));
const documented = new Set(
  section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z0-9_]+)`/g)].map((match) => match[1]!)),
);

describe('README settings table', () => {
  it('has a row for every setting', () => {
    expect(settingNames.length).toBeGreaterThan(10);
    for (const name of settingNames) expect(documented.has(name), `README.md has no settings row for ${name}`).toBe(true);
  });
});
