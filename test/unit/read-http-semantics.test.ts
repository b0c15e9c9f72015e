/** Ranges and validators of the public read (RFC 9110 §13, §14), as pure functions. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentRange, formatRange, isNotModified, parseContentRange, parseRange, rangeStillValid, resolveRange } from '../../src/delivery/http-semantics.js';

describe('parseRange', () => {
  it('reads the three single-range forms', () => {
    expect(parseRange('bytes=0-99')).toEqual({ kind: 'from', first: 0, last: 99 });
    expect(parseRange('bytes=100-')).toEqual({ kind: 'from', first: 100, last: undefined });
    expect(parseRange('bytes=-500')).toEqual({ kind: 'suffix', length: 500 });
    expect(parseRange('BYTES = 1 - 2')).toEqual({ kind: 'from', first: 1, last: 2 });
  });

  it('ignores what a server may ignore: other units, several ranges, invalid specs', () => {
    for (const header of [undefined, '', 'items=0-1', 'bytes=0-1,4-5', 'bytes=5-2', 'bytes=-', 'bytes=a-b', 'bytes=0x1-2']) {
      expect(parseRange(header), String(header)).toBeUndefined();
    }
  });

  it('round-trips through formatRange', () => {
    fc.assert(
      fc.property(fc.nat(), fc.option(fc.nat(), { nil: undefined }), (first, extra) => {
        const last = extra === undefined ? undefined : first + extra;
        const spec = parseRange(formatRange({ kind: 'from', first, last }));
        expect(spec).toEqual({ kind: 'from', first, last });
      }),
    );
  });
});

describe('resolveRange', () => {
  it('clamps to the object and refuses what starts beyond it', () => {
    expect(resolveRange({ kind: 'from', first: 10, last: 1_000 }, 100)).toEqual({ start: 10, end: 99 });
    expect(resolveRange({ kind: 'from', first: 100, last: undefined }, 100)).toBe('unsatisfiable');
    expect(resolveRange({ kind: 'suffix', length: 1_000 }, 100)).toEqual({ start: 0, end: 99 });
    expect(resolveRange({ kind: 'suffix', length: 0 }, 100)).toBe('unsatisfiable');
    expect(resolveRange({ kind: 'from', first: 0, last: undefined }, 0)).toBe('unsatisfiable');
  });

  it('always yields a non-empty range inside the object', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(20_000), fc.option(fc.nat(20_000), { nil: undefined }), fc.boolean(), (size, a, b, suffix) => {
        const spec = suffix ? ({ kind: 'suffix', length: a } as const) : ({ kind: 'from', first: a, last: b === undefined ? undefined : a + b } as const);
        const range = resolveRange(spec, size);
        if (range === 'unsatisfiable') return;
        expect(range.start).toBeGreaterThanOrEqual(0);
        expect(range.end).toBeLessThan(size);
        expect(range.start).toBeLessThanOrEqual(range.end);
      }),
    );
  });

  it('formats and parses Content-Range', () => {
    expect(contentRange({ start: 0, end: 9 }, 100)).toBe('bytes 0-9/100');
    expect(contentRange('unsatisfiable', 100)).toBe('bytes */100');
    expect(parseContentRange('bytes 5-9/10')).toEqual({ start: 5, end: 9, size: 10 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, size: undefined });
    expect(parseContentRange('bytes */10')).toBeUndefined();
  });
});

describe('isNotModified', () => {
  const object = { etag: '"abc"', lastModified: new Date('2026-01-02T03:04:05.678Z') };

  it('matches If-None-Match weakly, in lists and with *', () => {
    expect(isNotModified({ ifNoneMatch: '"abc"' }, object)).toBe(true);
    expect(isNotModified({ ifNoneMatch: 'W/"abc"' }, object)).toBe(true);
    expect(isNotModified({ ifNoneMatch: '"x", "abc"' }, object)).toBe(true);
    expect(isNotModified({ ifNoneMatch: '*' }, object)).toBe(true);
    expect(isNotModified({ ifNoneMatch: '"abd"' }, object)).toBe(false);
    expect(isNotModified({ ifNoneMatch: '"abc"' }, { lastModified: object.lastModified })).toBe(false);
  });

  it('uses If-Modified-Since only without If-None-Match, at second precision', () => {
    expect(isNotModified({ ifModifiedSince: 'Fri, 02 Jan 2026 03:04:05 GMT' }, object)).toBe(true);
    expect(isNotModified({ ifModifiedSince: 'Fri, 02 Jan 2026 03:04:04 GMT' }, object)).toBe(false);
    expect(isNotModified({ ifModifiedSince: 'not a date' }, object)).toBe(false);
    expect(isNotModified({ ifNoneMatch: '"other"', ifModifiedSince: 'Fri, 02 Jan 2030 00:00:00 GMT' }, object)).toBe(false);
  });
});

describe('rangeStillValid (If-Range)', () => {
  const object = { etag: '"abc"', lastModified: new Date('2026-01-02T03:04:05Z') };
  it('honours the range only for a strong matching tag or the exact date', () => {
    expect(rangeStillValid({}, object)).toBe(true);
    expect(rangeStillValid({ ifRange: '"abc"' }, object)).toBe(true);
    expect(rangeStillValid({ ifRange: 'W/"abc"' }, object)).toBe(false);
    expect(rangeStillValid({ ifRange: '"old"' }, object)).toBe(false);
    expect(rangeStillValid({ ifRange: 'Fri, 02 Jan 2026 03:04:05 GMT' }, object)).toBe(true);
    expect(rangeStillValid({ ifRange: 'Fri, 02 Jan 2026 03:04:06 GMT' }, object)).toBe(false);
  });
});
