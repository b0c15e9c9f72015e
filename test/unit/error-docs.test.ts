/** The error codes are a user contract: each one in the catalogue is documented in the README. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCatalogue, errorCodes } from '../../src/core/errors.js';

const readme = readFileSync('README.md', 'utf8');
const documented = new Map(
  [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map((match) => [String(match[1]), { status: Number(match[2]), meaning: match[3] }]),
);

describe('README error table', () => {
  it.each(errorCodes)('documents %s with its status', (code) => {
    expect(documented.get(code), `README.md has no row for ${code}`).toBeDefined();
    expect(documented.get(code)?.status).toBe(errorCatalogue[code].status);
  });

  it('documents no code that does not exist', () => {
    expect([...documented.keys()].filter((code) => !(code in errorCatalogue))).toEqual([]);
  });
});
