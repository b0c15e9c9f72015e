import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isWellFormedImageKey,
  keyIdBits,
  maxKeyLength,
  newImageKey,
  sanitiseFileName,
  sanitiseStem,
} from '../../src/core/keys.js';

describe('sanitiseFileName', () => {
  it.each([
    ['profile-photo.jpg', 'profile-photo.jpg', 'image/jpeg'],
    ['Profile Photo.JPG', 'profile-photo.jpg', 'image/jpeg'],
    ['../../etc/passwd.png', 'passwd.png', 'image/png'],
    ['C:\\Users\\me\\Été à Paris.jpeg', 'ete-a-paris.jpeg', 'image/jpeg'],
    ['日本語.webp', 'image.webp', 'image/webp'],
    ['...hidden..gif', 'hidden.gif', 'image/gif'],
    ['photo.ｊｐｇ', 'photo.jpg', 'image/jpeg'],
    ['a\u202Egnp.jpg', 'a-gnp.jpg', 'image/jpeg'],
  ])('%j becomes %j', (input, name, contentType) => {
    const result = sanitiseFileName(input);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.value.name).toBe(name);
      expect(result.value.imageType.contentType).toBe(contentType);
    }
  });

  it.each(['', 'noextension', 'trailingdot.', 'tab\tname.jpg', 'nul\u0000.png', 'x'.repeat(256) + '.jpg'])(
    'refuses %j as invalid',
    (input) => {
      expect(sanitiseFileName(input)).toEqual({ ok: false, problem: 'invalid' });
    },
  );

  it.each(['page.html', 'vector.svg', 'script.js', 'photo.jpg.exe', 'archive.tar.gz'])(
    'refuses %j as an unsupported type',
    (input) => {
      expect(sanitiseFileName(input)).toEqual({ ok: false, problem: 'unsupported-type' });
    },
  );

  it('bounds the stem', () => {
    expect(sanitiseStem('a'.repeat(500))).toHaveLength(64);
  });
});

describe('key rules (property-based)', () => {
  // Every input that is accepted yields a key with no path separator, no "..", no control or bidi
  // character, only [a-z0-9._-], within the bounded length — and one the read path accepts.
  const anyName = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'grapheme', maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc
      .tuple(
        fc.string({ unit: fc.constantFrom('.', '/', '\\', '-', '_', ' ', 'a', 'É', '\u202E', '\u0000', '%', '2', 'f'), maxLength: 40 }),
        fc.constantFrom('.jpg', '.PNG', '.jpeg', '.gif', '.webp', '.avif', '.svg', ''),
      )
      .map(([stem, ext]) => stem + ext),
  );

  it('never yields an unsafe key', () => {
    fc.assert(
      fc.property(anyName, (input) => {
        const result = sanitiseFileName(input);
        if (!result.ok) return;
        const key = newImageKey(result.value.name);
        expect(key).not.toMatch(/[/\\]/);
        expect(key).not.toContain('..');
        expect(key).not.toMatch(/[\p{Cc}\p{Cf}]/u);
        expect(key).toMatch(/^[a-z0-9._-]+$/);
        expect(key.length).toBeLessThanOrEqual(maxKeyLength);
        expect(isWellFormedImageKey(key)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('is deterministic and idempotent on the sanitised name', () => {
    fc.assert(
      fc.property(anyName, (input) => {
        const first = sanitiseFileName(input);
        if (!first.ok) return;
        const again = sanitiseFileName(first.value.name);
        expect(again.ok && again.value.name).toBe(first.value.name);
      }),
    );
  });
});

describe('newImageKey', () => {
  it(`carries ${keyIdBits} random bits, at least the 96 DESIGN.md asks for`, () => {
    expect(keyIdBits).toBeGreaterThanOrEqual(96);
    const key = newImageKey('a.jpg');
    expect(key).toMatch(/^[0-9a-f]{32}-a\.jpg$/);
    const ids = new Set(Array.from({ length: 10_000 }, () => newImageKey('a.jpg')));
    expect(ids.size).toBe(10_000);
  });
});

describe('isWellFormedImageKey', () => {
  it.each(['../secret.jpg', 'abc.jpg', `${'a'.repeat(32)}-../x.jpg`, `${'A'.repeat(32)}-x.jpg`, `${'a'.repeat(32)}-x/y.jpg`])(
    'refuses %j',
    (key) => {
      expect(isWellFormedImageKey(key)).toBe(false);
    },
  );
});
