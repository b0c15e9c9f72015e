/** Magic bytes and the stored-type policy of the read path. */
import { describe, expect, it } from 'vitest';
import { matchesImageSignature, signaturePrefixLength, sniffImageType } from '../../src/core/image-signatures.js';
import { imageTypeForExtension } from '../../src/core/image-types.js';
import { checkSignature, checkStoredType } from '../../src/delivery/image-policy.js';
import { jpegBytes, tinyPng } from '../fixtures/images.js';

const samples: Record<string, Buffer> = {
  'image/jpeg': jpegBytes(64),
  'image/png': tinyPng,
  'image/gif': Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00', 'latin1'),
  'image/webp': Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('WEBPVP8 ')]),
  'image/avif': Buffer.concat([Buffer.from([0, 0, 0, 0x1c]), Buffer.from('ftypavif'), Buffer.alloc(8)]),
};
const hostile = {
  html: Buffer.from('<!DOCTYPE html><html><script>alert(1)</script>'),
  svg: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
  empty: Buffer.alloc(0),
  truncatedJpeg: Buffer.from([0xff, 0xd8]),
};

describe('image signatures', () => {
  it('recognises each format from its first bytes, and only that format', () => {
    for (const [type, bytes] of Object.entries(samples)) {
      expect(sniffImageType(bytes.subarray(0, signaturePrefixLength)), type).toBe(type);
      for (const other of Object.keys(samples)) expect(matchesImageSignature(other, bytes), `${type} as ${other}`).toBe(other === type);
    }
    expect(matchesImageSignature('image/avif', Buffer.concat([Buffer.from([0, 0, 0, 0x1c]), Buffer.from('ftypavis')]))).toBe(true);
    expect(matchesImageSignature('image/gif', Buffer.from('GIF87a'))).toBe(true);
  });

  it('refuses HTML, SVG, empty and truncated payloads whatever they claim', () => {
    for (const [name, bytes] of Object.entries(hostile)) {
      expect(sniffImageType(bytes), name).toBeUndefined();
      for (const type of Object.keys(samples)) expect(matchesImageSignature(type, bytes), `${name} as ${type}`).toBe(false);
    }
    expect(matchesImageSignature('image/svg+xml', hostile.svg)).toBe(false);
  });
});

describe('stored type policy', () => {
  const allowed = ['jpg', 'jpeg', 'png'];
  const key = (name: string) => `0123456789abcdef0123456789abcdef-${name}`;

  it('accepts the extension’s type (image/jpg too) and refuses the rest', () => {
    expect(checkStoredType(key('a.jpg'), 'image/jpeg', allowed)).toMatchObject({ ok: true });
    expect(checkStoredType(key('a.jpeg'), 'image/jpg', allowed)).toMatchObject({ ok: true });
    expect(checkStoredType(key('a.png'), 'IMAGE/PNG; foo=bar', allowed)).toMatchObject({ ok: true });
    expect(checkStoredType(key('a.jpg'), 'text/html', allowed)).toEqual({ ok: false, reason: 'type_mismatch' });
    expect(checkStoredType(key('a.jpg'), 'image/svg+xml', allowed)).toEqual({ ok: false, reason: 'type_mismatch' });
    expect(checkStoredType(key('a.jpg'), 'image/png', allowed)).toEqual({ ok: false, reason: 'type_mismatch' });
    expect(checkStoredType(key('a.jpg'), undefined, allowed)).toEqual({ ok: false, reason: 'type_mismatch' });
    expect(checkStoredType(key('a.gif'), 'image/gif', allowed)).toEqual({ ok: false, reason: 'extension_not_allowed' });
    expect(checkStoredType(key('a.svg'), 'image/svg+xml', [...allowed, 'svg'])).toEqual({ ok: false, reason: 'extension_not_allowed' });
  });

  it('checks the signature of the stored type', () => {
    const jpeg = imageTypeForExtension('jpg');
    if (!jpeg) throw new Error('jpeg is a known type');
    expect(checkSignature(jpeg, samples['image/jpeg'] ?? Buffer.alloc(0))).toEqual({ ok: true });
    expect(checkSignature(jpeg, hostile.html)).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(checkSignature(jpeg, tinyPng)).toEqual({ ok: false, reason: 'signature_mismatch' });
  });
});
