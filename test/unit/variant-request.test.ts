/** Variant URLs: the query allow-list, Accept negotiation and the object key (pure logic). */
import { describe, expect, it } from 'vitest';
import { darkroomAppSpecSchema, type VariantsSpec } from '../../src/config/darkroom-app.js';
import { isDarkroomError } from '../../src/core/errors.js';
import { negotiateFormat } from '../../src/variants/format-negotiation.js';
import { planVariant } from '../../src/variants/variant-plan.js';
import { parseReadTarget, type VariantChoice } from '../../src/variants/variant-query.js';

const variants: VariantsSpec = darkroomAppSpecSchema.parse({
  storage: { provider: 's3', bucket: 'abc', prefix: 'up/' },
  variants: {
    widths: [320, 640],
    qualities: [50, 90],
    presets: [
      { name: 'thumb', width: 200, height: 200, fit: 'cover', format: 'webp', quality: 70 },
      { name: 'hero', width: 1600 },
    ],
  },
}).variants!;

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return isDarkroomError(error) ? error.code : 'not a catalogue error';
  }
}

describe('parseReadTarget', () => {
  it('an empty query is the original, with or without variants', () => {
    expect(parseReadTarget('', variants)).toEqual({ kind: 'original' });
    expect(parseReadTarget('', undefined)).toEqual({ kind: 'original' });
    expect(parseReadTarget('?', undefined)).toEqual({ kind: 'original' });
  });

  it('a listed width is a variant in format auto', () => {
    expect(parseReadTarget('?w=640', variants)).toEqual({ kind: 'variant', choice: { width: 640, height: undefined, fit: 'inside', format: 'auto', quality: undefined } });
    expect(parseReadTarget('w=320&q=90', variants)).toMatchObject({ kind: 'variant', choice: { width: 320, quality: 90 } });
  });

  it('a preset carries its own box, fit, format and quality; a listed q overrides the quality', () => {
    expect(parseReadTarget('?preset=thumb', variants)).toEqual({ kind: 'variant', choice: { width: 200, height: 200, fit: 'cover', format: 'webp', quality: 70 } });
    expect(parseReadTarget('?preset=thumb&q=50', variants)).toMatchObject({ choice: { quality: 50 } });
    expect(parseReadTarget('?preset=hero', variants)).toMatchObject({ choice: { width: 1600, height: undefined, fit: 'inside', format: 'auto' } });
  });

  it.each([
    ['?w=641', 'width not listed'],
    ['?w=0640', 'leading zero'],
    ['?w=6.4e2', 'exponent'],
    ['?w=+640', 'sign'],
    ['?w=', 'empty width'],
    ['?w=640&w=320', 'repeated'],
    ['?w=640&preset=thumb', 'both'],
    ['?q=90', 'q alone'],
    ['?w=640&q=75', 'quality not listed'],
    ['?preset=nope', 'unknown preset'],
    ['?preset=THUMB', 'preset names are exact'],
    ['?w=640&v=2', 'unknown parameter'],
    ['?width=640', 'unknown parameter alone'],
  ])('%s is INVALID_VARIANT (%s)', (search, _why) => {
    expect(codeOf(() => parseReadTarget(search, variants))).toBe('INVALID_VARIANT');
  });

  it('an empty pair (a trailing &) is no parameter, as URLSearchParams reads it', () => {
    expect(parseReadTarget('?w=640&', variants)).toMatchObject({ kind: 'variant', choice: { width: 640 } });
  });

  it('an app without variants refuses any variant parameter', () => {
    expect(codeOf(() => parseReadTarget('?w=640', undefined))).toBe('INVALID_VARIANT');
    expect(codeOf(() => parseReadTarget('?preset=thumb', undefined))).toBe('INVALID_VARIANT');
    expect(codeOf(() => parseReadTarget('?anything', undefined))).toBe('INVALID_VARIANT');
  });
});

describe('negotiateFormat', () => {
  const chrome = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
  it.each([
    [chrome, 'jpeg', 'avif'],
    ['image/webp,*/*', 'jpeg', 'webp'],
    ['image/avif;q=0,image/webp', 'jpeg', 'webp'],
    ['IMAGE/AVIF', 'png', 'avif'],
    ['image/*,*/*;q=0.8', 'jpeg', 'jpeg'],
    ['', 'png', 'png'],
    [undefined, 'webp', 'webp'],
    [chrome, 'gif', 'webp'],
    ['image/avif', 'gif', 'gif'],
  ] as const)('auto with Accept %j from %s is %s', (accept, source, expected) => {
    expect(negotiateFormat('auto', accept, source)).toBe(expected);
  });

  it('an explicit format ignores Accept', () => {
    expect(negotiateFormat('jpeg', chrome, 'png')).toBe('jpeg');
  });
});

describe('planVariant', () => {
  const choice = (overrides: Partial<VariantChoice> = {}): VariantChoice => ({ width: 640, height: undefined, fit: 'inside', format: 'auto', quality: undefined, ...overrides });
  const key = '0123456789abcdef0123456789abcdef-cat.jpg';
  const base = { variants, storagePrefix: 'up/', originalKey: key, sourceContentType: 'image/jpeg' };

  it('keys the variant under {storage.prefix}variants/ by every parameter that changes the bytes', () => {
    const plan = planVariant({ ...base, choice: choice(), accept: 'image/webp' });
    expect(plan).toMatchObject({ objectKey: `up/variants/${key}/w640-q80.webp`, contentType: 'image/webp', variesByAccept: true, quality: 80 });
    expect(planVariant({ ...base, choice: choice(), accept: 'image/avif' }).objectKey).toBe(`up/variants/${key}/w640-q50.avif`);
    expect(planVariant({ ...base, choice: choice(), accept: '' }).objectKey).toBe(`up/variants/${key}/w640-q80.jpeg`);
    expect(planVariant({ ...base, choice: choice({ quality: 90 }), accept: '' }).objectKey).toBe(`up/variants/${key}/w640-q90.jpeg`);
    const boxed = planVariant({ ...base, choice: choice({ width: 200, height: 200, fit: 'cover', format: 'webp', quality: 70 }), accept: 'image/avif' });
    expect(boxed).toMatchObject({ objectKey: `up/variants/${key}/w200-h200-cover-q70.webp`, variesByAccept: false });
  });

  it('lossless output has no quality in its key; an app prefix replaces the default', () => {
    const png = planVariant({ ...base, sourceContentType: 'image/png', originalKey: key.replace('.jpg', '.png'), choice: choice(), accept: '' });
    expect(png).toMatchObject({ format: 'png', quality: undefined, contentType: 'image/png' });
    expect(png.objectKey).toMatch(/\/w640\.png$/);
    const own = planVariant({ ...base, variants: { ...variants, prefix: 'derived/' }, choice: choice(), accept: '' });
    expect(own.objectKey).toBe(`derived/${key}/w640-q80.jpeg`);
  });

  it('distinct choices never share a key', () => {
    const keys = new Set<string>();
    for (const width of [320, 640]) for (const height of [undefined, 320]) for (const fit of ['cover', 'contain', 'inside'] as const) for (const format of ['webp', 'avif', 'jpeg', 'png'] as const) for (const quality of [undefined, 50]) {
      const plan = planVariant({ ...base, choice: choice({ width, height, fit, format, quality }), accept: '' });
      keys.add(JSON.stringify([plan.width, plan.height, height === undefined ? '' : plan.fit, plan.format, plan.quality]) + plan.objectKey);
    }
    const objectKeys = new Set([...keys].map((entry) => entry.slice(entry.indexOf(']') + 1)));
    expect(objectKeys.size).toBe(keys.size);
  });
});
