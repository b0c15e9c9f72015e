/** CDN URLs: the host comes from config only; keys are encoded segment by segment. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cdnTarget } from '../../src/delivery/cdn-url.js';

describe('cdnTarget', () => {
  it('joins base path and key, encoding each segment', () => {
    expect(cdnTarget('https://d111.cloudfront.net', 'img/abc-photo.jpg')).toEqual({ origin: 'https://d111.cloudfront.net', path: '/img/abc-photo.jpg' });
    expect(cdnTarget('https://cdn.example.test/base/', 'a b/c?d#e.jpg')).toEqual({ origin: 'https://cdn.example.test', path: '/base/a%20b/c%3Fd%23e.jpg' });
    expect(() => cdnTarget('https://cdn.example.test/base', '../../etc/passwd')).toThrow(TypeError);
    expect(() => cdnTarget('https://cdn.example.test/base', 'a/./b.jpg')).toThrow(TypeError);
    expect(cdnTarget('http://127.0.0.1:8081/x?q=1#f', 'k.jpg')).toEqual({ origin: 'http://127.0.0.1:8081', path: '/x/k.jpg' });
  });

  it('never leaves the configured origin, whatever the key', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(fc.constantFrom('..', '.', '', 'a', '%2e', '\\', '?')).map((parts) => parts.join('/'))), (key) => {
        if (key.split('/').some((segment) => segment === '.' || segment === '..')) {
          expect(() => cdnTarget('https://cdn.example.test/base', key)).toThrow(TypeError);
          return;
        }
        const target = cdnTarget('https://cdn.example.test/base', key);
        expect(target.origin).toBe('https://cdn.example.test');
        const resolved = new URL(target.path, target.origin);
        expect(resolved.origin).toBe('https://cdn.example.test');
        expect(resolved.pathname.startsWith('/base/')).toBe(true);
      }),
    );
  });
});
