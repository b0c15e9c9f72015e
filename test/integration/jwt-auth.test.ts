/**
 * `spec.auth.mode: jwt` end to end: darkroom on a port, apps from a file, a JWKS served over real
 * HTTP on loopback by an issuer with real RS256, ES256 and EdDSA keys. Token times and darkroom's
 * verifying clock are one value the test controls, so expiry, key cache age and refetch cooldown
 * are exercised without waiting (and the suite holds under faketime).
 */
import { createPublicKey } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultJwksFetchPolicy } from '../../src/auth/jwks-keys.js';
import { mintToken, startJwksServer, testKey, type JwksServer, type TestKey } from '../support/jwks-server.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';

const issuer = 'https://login.example.test/';
let clock = Date.now();
let jwks: JwksServer;
let stack: Stack;
let rsa: TestKey;
let ec: TestKey;
let ed: TestKey;
let stranger: TestKey;
/** A tight fetch deadline, so the hanging cases finish quickly; the other timings stay production's. */
const timeoutMs = 300;

const jwtApp = (name: string, audience: string, jwksPath: string, extra = '') =>
  appYaml(
    name,
    `allowPublicUpload: true
storage: {provider: s3, bucket: test-bucket}
rateLimit: {requests: 3, windowSeconds: 3600}
auth:
  mode: jwt
  jwt: {jwksURL: "JWKS${jwksPath}", issuer: "${issuer}", audiences: [${audience}]${extra}}`,
  );

beforeAll(async () => {
  [rsa, ec, ed, stranger] = await Promise.all([testKey('RS256', 'rsa-1'), testKey('ES256', 'ec-1'), testKey('EdDSA', 'ed-1'), testKey('RS256', 'not-published')]);
  jwks = await startJwksServer([rsa.publicJwk, ec.publicJwk, ed.publicJwk]);
  const apps = [
    jwtApp('shop', 'shop', '/jwks'),
    jwtApp('other', 'other', '/jwks'),
    jwtApp('claims', 'claims', '/jwks', ', ownerClaim: uid, algorithms: [ES256]'),
    jwtApp('hangs', 'hangs', '/hang'),
    jwtApp('down', 'down', '/down'),
    appYaml('headers', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: 3, windowSeconds: 3600}'),
  ]
    .join('---\n')
    .replaceAll('JWKS', jwks.url);
  stack = await startStack({ appsYaml: apps, start: { auth: { now: () => clock, jwksPolicy: { timeoutMs } } } });
});
afterAll(async () => {
  await stack?.close();
  await jwks?.close();
});

const body = JSON.stringify({ file: 'a.png', size: 10 });
function presign(app: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${stack.darkroom.url}/darkroom/${app}/v1/images/presigned-urls`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
}
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function expectRefusal(response: Response, code: string, challenge: string | null): Promise<void> {
  const text = await response.text();
  expect((JSON.parse(text) as { error: { code: string } }).error.code, text).toBe(code);
  expect(response.headers.get('www-authenticate')).toBe(challenge);
}
const invalidChallenge = 'Bearer realm="darkroom", error="invalid_token"';

describe('jwt mode', () => {
  it('accepts RS256, ES256 and EdDSA tokens and takes the owner from sub', async () => {
    for (const [index, key] of [rsa, ec, ed].entries()) {
      const response = await presign('shop', bearer(await mintToken(key, clock, { iss: issuer, aud: 'shop', sub: `owner-${index}` })));
      expect(response.status, await response.clone().text()).toBe(200);
      // Each owner has its own bucket of 3.
      expect(response.headers.get('ratelimit')).toMatch(/^"upload";r=2;/);
    }
    const access = stack.logLines.filter((line) => (line.req as { path?: string } | undefined)?.path === '/darkroom/shop/v1/images/presigned-urls');
    expect(access.map((line) => line.owner)).toEqual(expect.arrayContaining(['owner-0', 'owner-1', 'owner-2']));
  });

  it('ignores owner headers: the verified owner keys the rate limit, so rotating X-Owner-Id widens nothing', async () => {
    const token = await mintToken(rsa, clock, { iss: issuer, aud: 'shop', sub: 'mallory' });
    const statuses: number[] = [];
    for (const forged of ['a', 'b', 'c', 'd']) statuses.push((await presign('shop', { ...bearer(token), 'X-Owner-Id': forged, X_Owner_Id: forged })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('takes the owner from the configured claim and checks it like the header', async () => {
    expect((await presign('claims', bearer(await mintToken(ec, clock, { iss: issuer, aud: 'claims', sub: 'ignored', uid: 'u-42' })))).status).toBe(200);
    await expectRefusal(await presign('claims', bearer(await mintToken(ec, clock, { iss: issuer, aud: 'claims', uid: 'two words' }))), 'INVALID_TOKEN', invalidChallenge);
    await expectRefusal(await presign('claims', bearer(await mintToken(ec, clock, { iss: issuer, aud: 'claims', uid: 'x'.repeat(129) }))), 'INVALID_TOKEN', invalidChallenge);
    await expectRefusal(await presign('claims', bearer(await mintToken(ec, clock, { iss: issuer, aud: 'claims', uid: 42 }))), 'INVALID_TOKEN', invalidChallenge);
    // This app accepts ES256 only.
    await expectRefusal(await presign('claims', bearer(await mintToken(rsa, clock, { iss: issuer, aud: 'claims', uid: 'u-42' }))), 'INVALID_TOKEN', invalidChallenge);
  });

  it('MISSING_TOKEN without a bearer token (owner headers are no substitute), with a bare Bearer challenge', async () => {
    await expectRefusal(await presign('shop', {}), 'MISSING_TOKEN', 'Bearer realm="darkroom"');
    await expectRefusal(await presign('shop', { 'X-Owner-Id': 'alice' }), 'MISSING_TOKEN', 'Bearer realm="darkroom"');
    await expectRefusal(await presign('shop', { Authorization: 'Basic YWxpY2U6cHc=' }), 'MISSING_TOKEN', 'Bearer realm="darkroom"');
    const response = await presign('shop', {});
    expect(response.status).toBe(401);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('the token is checked where the owner header is: before the body, the rate limit and the app policy', async () => {
    const post = (headers: Record<string, string>, raw: string) =>
      fetch(`${stack.darkroom.url}/darkroom/shop/v1/images/presigned-urls`, { method: 'POST', headers, body: raw });
    await expectRefusal(await post({ 'Content-Type': 'text/plain' }, 'x'), 'MISSING_TOKEN', 'Bearer realm="darkroom"');
    await expectRefusal(await post({ 'Content-Type': 'application/json', Authorization: 'Bearer x.y.z' }, '{'), 'INVALID_TOKEN', invalidChallenge);
    const token = await mintToken(rsa, clock, { iss: issuer, aud: 'shop', sub: 'order' });
    await expectRefusal(await post({ 'Content-Type': 'application/json', ...bearer(token) }, '{'), 'INVALID_JSON', null);
  });

  it('refuses expired, not-yet-valid, wrong-issuer, wrong-audience and other apps\' tokens, and a token without exp', async () => {
    const cases: Array<[string, Promise<string>]> = [
      ['expired', mintToken(rsa, clock - 600_000, { iss: issuer, aud: 'shop', sub: 'alice' })],
      ['not yet valid', mintToken(rsa, clock, { iss: issuer, aud: 'shop', sub: 'alice', nbf: Math.floor(clock / 1000) + 120 })],
      ['wrong issuer', mintToken(rsa, clock, { iss: 'https://evil.example.test/', aud: 'shop', sub: 'alice' })],
      ['wrong audience', mintToken(rsa, clock, { iss: issuer, aud: 'somewhere-else', sub: 'alice' })],
      ['another app\'s audience', mintToken(rsa, clock, { iss: issuer, aud: 'other', sub: 'alice' })],
      ['no exp', new SignJWT({ iss: issuer, aud: 'shop', sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: rsa.kid }).sign(rsa.privateKey)],
      ['garbage', Promise.resolve('not.a.jwt')],
    ];
    for (const [label, token] of cases) {
      const response = await presign('shop', bearer(await token));
      expect(response.status, label).toBe(401);
      await expectRefusal(response, 'INVALID_TOKEN', invalidChallenge);
    }
    // The same token is good for the app it was minted for.
    expect((await presign('other', bearer(await mintToken(rsa, clock, { iss: issuer, aud: 'other', sub: 'alice' })))).status).toBe(200);
    // Within the 30 s clock tolerance.
    expect((await presign('other', bearer(await mintToken(rsa, clock - 300_000 - 20_000, { iss: issuer, aud: 'other', sub: 'late' })))).status).toBe(200);
  });

  it('refuses alg none and an HS256 token whose secret is the RSA public key', async () => {
    const none = new UnsecuredJWT({ sub: 'alice' }).setIssuer(issuer).setAudience('shop').setIssuedAt(Math.floor(clock / 1000)).setExpirationTime(Math.floor(clock / 1000) + 300).encode();
    await expectRefusal(await presign('shop', bearer(none)), 'INVALID_TOKEN', invalidChallenge);
    const publicPem = createPublicKey({ key: rsa.publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    for (const secret of [publicPem, JSON.stringify(rsa.publicJwk)]) {
      const hs = await new SignJWT({ sub: 'alice', iss: issuer, aud: 'shop', exp: Math.floor(clock / 1000) + 300 })
        .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
        .sign(new TextEncoder().encode(String(secret)));
      await expectRefusal(await presign('shop', bearer(hs)), 'INVALID_TOKEN', invalidChallenge);
    }
  });

  it('an unknown kid refetches the JWKS at most once per cooldown; a rotated-in key is picked up after it', async () => {
    clock += defaultJwksFetchPolicy.cooldownMs; // whatever fetched before is out of the cooldown
    const before = jwks.fetches();
    const unknown = await mintToken(stranger, clock, { iss: issuer, aud: 'shop', sub: 'alice' });
    for (let i = 0; i < 5; i += 1) await expectRefusal(await presign('shop', bearer(unknown)), 'INVALID_TOKEN', invalidChallenge);
    expect(jwks.fetches() - before).toBe(1);

    // The issuer rotates in a new key and starts signing with it.
    const next = await testKey('ES256', 'ec-2');
    jwks.keys = [...jwks.keys, next.publicJwk];
    const rotated = () => mintToken(next, clock, { iss: issuer, aud: 'shop', sub: 'rotated' });
    clock += 5_000; // still cooling down: not fetched yet
    await expectRefusal(await presign('shop', bearer(await rotated())), 'INVALID_TOKEN', invalidChallenge);
    expect(jwks.fetches() - before).toBe(1);
    clock += defaultJwksFetchPolicy.cooldownMs;
    expect((await presign('shop', bearer(await rotated()))).status).toBe(200);
    expect(jwks.fetches() - before).toBe(2);
    // Old keys still published keep working.
    expect((await presign('shop', bearer(await mintToken(ed, clock, { iss: issuer, aud: 'shop', sub: 'rotated-2' })))).status).toBe(200);
  });

  it('the JWKS endpoint down: cached keys keep verifying past their age, and a refresh is attempted', async () => {
    jwks.mode = 'down';
    try {
      clock += defaultJwksFetchPolicy.cacheMaxAgeMs + defaultJwksFetchPolicy.cooldownMs;
      const before = jwks.fetches();
      for (const sub of ['d1', 'd2', 'd3']) expect((await presign('shop', bearer(await mintToken(ec, clock, { iss: issuer, aud: 'shop', sub })))).status).toBe(200);
      // One background refresh for the stale keys, not one per request.
      await expect.poll(() => jwks.fetches() - before).toBe(1);
      expect(stack.logLines.some((line) => line.msg === 'could not refresh a JWKS; the last keys fetched keep verifying')).toBe(true);
    } finally {
      jwks.mode = 'ok';
    }
  });

  it('the JWKS endpoint hanging with keys cached: answers do not wait for it', async () => {
    jwks.mode = 'hang';
    try {
      clock += defaultJwksFetchPolicy.cacheMaxAgeMs + defaultJwksFetchPolicy.cooldownMs;
      const started = performance.now();
      expect((await presign('shop', bearer(await mintToken(rsa, clock, { iss: issuer, aud: 'shop', sub: 'h1' })))).status).toBe(200);
      // An unknown kid waits for one refetch, which gives up at the deadline.
      await expectRefusal(await presign('shop', bearer(await mintToken(stranger, clock, { iss: issuer, aud: 'shop', sub: 'h2' }))), 'INVALID_TOKEN', invalidChallenge);
      // Bounded: the fetch deadline (300 ms here), with generous room for a loaded machine.
      expect(performance.now() - started).toBeLessThan(timeoutMs + 4_000);
    } finally {
      jwks.mode = 'ok';
    }
  });

  it('no keys ever fetched: TOKEN_KEYS_UNAVAILABLE (503, Retry-After), bounded, for a hanging or a failing endpoint', async () => {
    for (const app of ['hangs', 'down']) {
      const token = await mintToken(rsa, clock, { iss: issuer, aud: app, sub: 'alice' });
      const started = performance.now();
      const response = await presign(app, bearer(token));
      expect(performance.now() - started).toBeLessThan(timeoutMs + 4_000);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      const text = await response.text();
      expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('TOKEN_KEYS_UNAVAILABLE');
      expect(text).not.toContain('127.0.0.1');
      expect(text).not.toContain(app === 'hangs' ? '/hang' : '/down');
    }
  });

  it('header-mode apps are unchanged: the owner header, no token needed', async () => {
    expect((await presign('headers', { 'X-Owner-Id': 'alice' })).status).toBe(200);
    await expectRefusal(await presign('headers', bearer(await mintToken(rsa, clock, { iss: issuer, aud: 'shop', sub: 'alice' }))), 'MISSING_OWNER_ID', null);
  });
});
