/**
 * `auth.jwt.jwksSecretRef`: the keys come from a Secret in the app's namespace (key `jwks`), read
 * through the same Secret lookup as storage credentials, and follow its rotation.
 */
import { describe, expect, it } from 'vitest';
import { jwksSecretVerdict } from '../../src/auth/jwks-secret-status.js';
import { OwnerAuthenticators } from '../../src/auth/owner-authenticators.js';
import { parseDarkroomApp, type DarkroomApp } from '../../src/config/darkroom-app.js';
import { DarkroomError } from '../../src/core/errors.js';
import { createLogger } from '../../src/logging/logger.js';
import { mintToken, testKey } from '../support/jwks-server.js';
import { MapSecretLookup } from '../support/map-secret-lookup.js';

const issuer = 'https://login.example.test/';

function app(): DarkroomApp {
  const result = parseDarkroomApp({
    apiVersion: 'darkroom.dev/v1alpha1',
    kind: 'DarkroomApp',
    metadata: { name: 'shop', namespace: 'team-a' },
    spec: { storage: { provider: 's3', bucket: 'abc' }, auth: { mode: 'jwt', jwt: { jwksSecretRef: { name: 'shop-jwks' }, issuer, audiences: ['shop'] } } },
  });
  if (!result.ok) throw new Error('fixture invalid');
  return result.app;
}

async function refusal(run: Promise<unknown>): Promise<DarkroomError> {
  try {
    await run;
  } catch (error) {
    if (error instanceof DarkroomError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('JWKS from a Secret', () => {
  it('verifies with the Secret\'s keys and follows a rotation of the Secret', async () => {
    const now = Date.now();
    const [first, second] = await Promise.all([testKey('ES256', 'k1'), testKey('EdDSA', 'k2')]);
    const secrets = new MapSecretLookup();
    const authenticators = new OwnerAuthenticators({ logger: createLogger('silent'), secrets, now: () => now });
    const shop = app();
    const bearer = async (key: typeof first) => ({ authorization: `Bearer ${await mintToken(key, now, { iss: issuer, aud: 'shop', sub: `by-${key.kid}` })}` });

    // No Secret (yet): the app is misconfigured; the answer says so without naming the Secret.
    const missing = await refusal(Promise.resolve().then(() => authenticators.owner(shop, {})));
    expect(missing.code).toBe('MISSING_TOKEN');
    const unconfigured = await refusal(Promise.resolve().then(async () => authenticators.owner(shop, await bearer(first))));
    expect(unconfigured.code).toBe('APP_CONFIG_INVALID');
    expect(unconfigured.message).not.toContain('shop-jwks');
    expect(unconfigured.detail).toContain('shop-jwks');
    expect(jwksSecretVerdict(shop, 'team-a', secrets)).toMatchObject({ ready: false, reason: 'JwksSecretNotFound' });

    secrets.secrets.set('team-a/shop-jwks', { data: { jwks: JSON.stringify({ keys: [first.publicJwk] }) }, version: '1' });
    expect(jwksSecretVerdict(shop, 'team-a', secrets)).toBe('ok');
    expect(await authenticators.owner(shop, await bearer(first))).toBe('by-k1');
    expect((await refusal(Promise.resolve(authenticators.owner(shop, await bearer(second))))).code).toBe('INVALID_TOKEN');

    // Rotated: the new Secret version brings the new key and drops the old one.
    secrets.secrets.set('team-a/shop-jwks', { data: { jwks: JSON.stringify({ keys: [second.publicJwk] }) }, version: '2' });
    expect(await authenticators.owner(shop, await bearer(second))).toBe('by-k2');
    expect((await refusal(Promise.resolve(authenticators.owner(shop, await bearer(first))))).code).toBe('INVALID_TOKEN');
  });

  it('a Secret that holds no JWKS is JwksSecretInvalid in the status and APP_CONFIG_INVALID to clients', async () => {
    const now = Date.now();
    const key = await testKey('RS256', 'k1');
    const secrets = new MapSecretLookup();
    secrets.secrets.set('team-a/shop-jwks', { data: { jwks: '{"not": "a jwks"}' }, version: '1' });
    expect(jwksSecretVerdict(app(), 'team-a', secrets)).toMatchObject({ ready: false, reason: 'JwksSecretInvalid' });
    const authenticators = new OwnerAuthenticators({ logger: createLogger('silent'), secrets, now: () => now });
    const token = await mintToken(key, now, { iss: issuer, aud: 'shop', sub: 'a' });
    const error = await refusal(Promise.resolve().then(() => authenticators.owner(app(), { authorization: `Bearer ${token}` })));
    expect(error.code).toBe('APP_CONFIG_INVALID');
    expect(error.detail).toMatch(/does not hold a JWKS/);
  });
});
