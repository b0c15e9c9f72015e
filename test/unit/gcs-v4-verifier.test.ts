/**
 * The emulator's V4 verifier, checked against URLs signed by the real `@google-cloud/storage` with a
 * local key: it accepts exactly what was signed and refuses every change a client or attacker could
 * make (other type, other key, other range, longer lifetime, other signer, past expiry).
 */
import { describe, expect, it } from 'vitest';
import { createGcsStorage } from '../../src/storage/gcs-client.js';
import { testServiceAccount, verifyV4SignedRequest, type SignedRequest } from '../support/gcs-emulator.js';

const account = testServiceAccount();
const other = testServiceAccount();
const publicKeys = new Map([[account.clientEmail, account.publicKey]]);
const storage = createGcsStorage({
  identity: { kind: 'service-account', clientEmail: account.clientEmail, privateKey: account.privateKeyPem },
});
// The test's one clock. The library checks `expires` against its own (real) clock, so signing
// happens at the real now, truncated to the second as X-Goog-Date is; every later instant the
// verifier sees (`now`, expiry) derives from it, so the outcome is the same on any day.
const signedAt = Math.floor(Date.now() / 1_000) * 1_000;
const lifetimeMs = 600_000;

async function signedPut(objectName: string, contentType = 'image/png', range = '0,1024'): Promise<URL> {
  const [url] = await storage
    .bucket('bucket-one')
    .file(objectName)
    .getSignedUrl({
      version: 'v4',
      action: 'write',
      accessibleAt: signedAt,
      expires: signedAt + lifetimeMs,
      contentType,
      extensionHeaders: { 'x-goog-content-length-range': range },
    });
  return new URL(url);
}

function requestFor(url: URL, overrides: Partial<SignedRequest> = {}, headers: Record<string, string> = {}): SignedRequest {
  const [, bucket = '', ...segments] = url.pathname.split('/');
  return {
    method: 'PUT',
    bucket,
    objectName: segments.map((segment) => decodeURIComponent(segment)).join('/'),
    query: url.searchParams,
    headers: { host: url.host, 'content-type': 'image/png', 'x-goog-content-length-range': '0,1024', ...headers },
    publicKeys,
    now: signedAt + 1_000,
    ...overrides,
  };
}

describe('V4 verifier against the real signer', () => {
  it('accepts the signed request and reports the signed length range', async () => {
    const url = await signedPut('uploads/0f-photo.png');
    expect(url.searchParams.get('X-Goog-SignedHeaders')).toBe('content-type;host;x-goog-content-length-range');
    expect(verifyV4SignedRequest(requestFor(url))).toEqual({ ok: true, lengthRange: { min: 0, max: 1024 } });
  });

  it('accepts awkward object names (spaces, unicode, reserved characters) encoded by the signer', async () => {
    const name = "dir/ä ö+ü&=?#[]@!$'()*,;~%20.png";
    const url = await signedPut(name);
    const request = requestFor(url);
    expect(request.objectName).toBe(name);
    expect(verifyV4SignedRequest(request).ok).toBe(true);
  });

  it.each([
    ['another Content-Type', {}, { 'content-type': 'text/html' }, 'SignatureDoesNotMatch'],
    ['a wider length range', {}, { 'x-goog-content-length-range': '0,999999' }, 'SignatureDoesNotMatch'],
    ['another host', {}, { host: 'evil.example' }, 'SignatureDoesNotMatch'],
    ['another object name', { objectName: 'uploads/0f-other.png' }, {}, 'SignatureDoesNotMatch'],
    ['another bucket', { bucket: 'bucket-two' }, {}, 'SignatureDoesNotMatch'],
    ['another method', { method: 'GET' }, {}, 'SignatureDoesNotMatch'],
    ['a time after expiry', { now: signedAt + lifetimeMs + 1_000 }, {}, 'ExpiredToken'],
    ['an unknown signer', { publicKeys: new Map([[account.clientEmail, other.publicKey]]) }, {}, 'SignatureDoesNotMatch'],
  ] as const)('refuses %s', async (_label, overrides, headers, code) => {
    const url = await signedPut('uploads/0f-photo.png');
    const verdict = verifyV4SignedRequest(requestFor(url, overrides, headers));
    expect(verdict).toMatchObject({ ok: false, code });
  });

  it('refuses a request missing a signed header', async () => {
    const url = await signedPut('uploads/0f-photo.png');
    const request = requestFor(url);
    const headers = { ...request.headers };
    delete headers['x-goog-content-length-range'];
    expect(verifyV4SignedRequest({ ...request, headers })).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });

  it('refuses tampered query parameters (a longer lifetime, a forged signature)', async () => {
    const url = await signedPut('uploads/0f-photo.png');
    const longer = new URL(url);
    longer.searchParams.set('X-Goog-Expires', '604800');
    expect(verifyV4SignedRequest(requestFor(longer))).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    const forged = new URL(url);
    const signature = forged.searchParams.get('X-Goog-Signature') ?? '';
    forged.searchParams.set('X-Goog-Signature', `${signature.slice(0, -2)}${signature.endsWith('00') ? '01' : '00'}`);
    expect(verifyV4SignedRequest(requestFor(forged))).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });
});
