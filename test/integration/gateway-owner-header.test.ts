/**
 * `spec.auth.mode: header` behind the documented gateway: a real nginx running
 * examples/gateway/nginx-owner-id.conf, with an auth service that knows two users. A client that
 * forges X-Owner-Id or X_Owner_Id, alone or together, gets its own quota and never anyone else's;
 * straight at darkroom (what the NetworkPolicy keeps clients from doing), two spellings naming
 * two owners are refused before the rate limit, so they cannot widen a quota either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxGateway, type NginxGateway } from '../support/nginx-gateway.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let gateway: NginxGateway;
const quota = 3;

beforeAll(async () => {
  stack = await startStack({
    appsYaml: appYaml('shop', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: ${quota}, windowSeconds: 3600}`),
  });
  gateway = await startNginxGateway(stack.darkroom.url, { 'token-alice': 'alice', 'token-bob': 'bob' });
});
afterAll(async () => {
  await gateway?.close();
  await stack?.close();
});

async function presign(base: string, headers: Record<string, string>): Promise<number> {
  const response = await fetch(`${base}/darkroom/shop/v1/images/presigned-urls`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ file: 'a.png', size: 10 }),
  });
  await response.body?.cancel();
  return response.status;
}

describe('owner headers behind the gateway', () => {
  it('forged X-Owner-Id and X_Owner_Id, rotated on every request, leave the client with its own quota', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      const forged: Record<string, string> = i % 2 === 0 ? { 'X-Owner-Id': 'bob' } : { 'X-Owner-Id': `rotating-${i}`, X_Owner_Id: `other-${i}` };
      statuses.push(await presign(gateway.url, { Authorization: 'Bearer token-alice', ...forged }));
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
    // Alice's forgeries named bob: bob's quota is untouched.
    const bob: number[] = [];
    for (let i = 0; i < quota + 1; i += 1) bob.push(await presign(gateway.url, { Authorization: 'Bearer token-bob', 'X-Owner-Id': 'alice' }));
    expect(bob).toEqual([200, 200, 200, 429]);
    const owners = stack.logLines.filter((line) => typeof line.owner === 'string').map((line) => line.owner as string);
    expect(new Set(owners)).toEqual(new Set(['alice', 'bob']));
  });

  it('an unauthenticated client with a forged header never reaches darkroom', async () => {
    expect(await presign(gateway.url, { 'X-Owner-Id': 'mallory', X_Owner_Id: 'mallory' })).toBe(401);
    expect(stack.logLines.some((line) => line.owner === 'mallory')).toBe(false);
  });
});

describe('both spellings straight at darkroom', () => {
  it('two different owners are refused with INVALID_OWNER_ID before the rate limit: no quota is used or widened', async () => {
    for (let i = 0; i < 10; i += 1) expect(await presign(stack.darkroom.url, { 'X-Owner-Id': 'carol', X_Owner_Id: `carol-${i}` })).toBe(400);
    // Carol's quota is whole, and the same owner in both spellings is that owner.
    const statuses: number[] = [];
    for (let i = 0; i < quota + 1; i += 1) statuses.push(await presign(stack.darkroom.url, { 'X-Owner-Id': 'carol', X_Owner_Id: 'carol' }));
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await presign(stack.darkroom.url, { X_Owner_Id: 'carol' })).toBe(429);
  });
});
