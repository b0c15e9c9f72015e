/**
 * Shared rate limits end to end: a real redis-server on a free port, two darkroom instances (each
 * with its own embedded S3) pointing at it through REDIS_URL, and a third one in fail-closed mode.
 * Redis is killed and restarted mid-run.
 */
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';

const appsWith = (sharedRequests: number) =>
  [
    appYaml('shared', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: ${sharedRequests}, windowSeconds: 3600}`),
    appYaml('burst', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: 50, windowSeconds: 3600}`),
    appYaml('window', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nrateLimit: {requests: 2, windowSeconds: 2}`),
  ].join('---\n');

let redis: TestRedisServer;
let one: Stack;
let two: Stack;
let closed: Stack;
let unique = 0;
const owner = () => `it-owner-${process.pid}-${++unique}`;

beforeAll(async () => {
  redis = await startRedisServer();
  // A generous decision timeout: these tests are about sharing, and a CI machine busy enough to
  // stall an event loop for 30 ms would otherwise turn a slow answer into a per-instance decision.
  // Timeouts themselves are tested in test/integration/redis-rate-limiter.test.ts.
  const env = { REDIS_URL: redis.url, DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS: '2000' };
  [one, two, closed] = await Promise.all([
    startStack({ appsYaml: appsWith(5), env }),
    startStack({ appsYaml: appsWith(5), env }),
    startStack({ appsYaml: appsWith(5), env: { ...env, DARKROOM_RATELIMIT_REDIS_FAILURE_MODE: 'closed' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([one?.close(), two?.close(), closed?.close()]);
  await redis?.stop();
});

function presign(stack: Stack, app: string, who: string): Promise<Response> {
  return fetch(`${stack.darkroom.url}/darkroom/${app}/v1/images/presigned-urls`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Owner-Id': who },
    body: JSON.stringify({ file: 'photo.png', size: 1234 }),
  });
}

async function metric(stack: Stack, name: string): Promise<string> {
  const text = await (await fetch(`${stack.darkroom.adminUrl}/metrics`)).text();
  return text.split('\n').find((line) => line.startsWith(name)) ?? '';
}

describe('shared limits through Redis', () => {
  it('two instances share one limit, with RateLimit headers on success and refusal', async () => {
    const who = owner();
    const statuses: number[] = [];
    const remaining: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await presign(i % 2 === 0 ? one : two, 'shared', who);
      statuses.push(response.status);
      expect(response.headers.get('ratelimit-policy')).toBe('"upload";q=5;w=3600');
      remaining.push(response.headers.get('ratelimit') ?? '');
      if (response.status === 429) {
        expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
      } else {
        await response.body?.cancel();
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    expect(remaining.slice(0, 5).map((value) => /r=(\d+)/.exec(value)?.[1])).toEqual(['4', '3', '2', '1', '0']);
    expect(await metric(one, 'darkroom_ratelimit_rejections_total{app="shared"}')).toMatch(/ [1-9]\d*$/);
  });

  it('never admits more than the limit across 200 concurrent requests on two instances', async () => {
    const who = owner();
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => presign(i % 2 === 0 ? one : two, 'burst', who)));
    for (const response of responses) await response.body?.cancel();
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(50);
    expect(statuses.filter((status) => status === 429)).toHaveLength(150);
  });

  it('frees one slot per window/limit at the boundary', async () => {
    const who = owner();
    // 2 per 2 s: a burst of two, then one per second.
    expect((await presign(one, 'window', who)).status).toBe(200);
    expect((await presign(two, 'window', who)).status).toBe(200);
    const refused = await presign(one, 'window', who);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await presign(two, 'window', who)).status).toBe(200);
    expect((await presign(one, 'window', who)).status).toBe(429);
  });

  it('applies a changed spec without a restart', async () => {
    await writeFile(one.appsFile, appsWith(8));
    const deadline = Date.now() + 10_000;
    let policy = '';
    while (Date.now() < deadline) {
      const response = await presign(one, 'shared', owner());
      await response.body?.cancel();
      policy = response.headers.get('ratelimit-policy') ?? '';
      if (policy.includes('q=8')) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(policy).toBe('"upload";q=8;w=3600');
  });
});

describe('Redis killed mid-run and restarted', () => {
  it('degrades to per-instance limits within 50 ms, stays ready, refuses in fail-closed mode, and shares again after a restart', async () => {
    const who = owner();
    expect((await presign(one, 'shared', who)).status).toBe(200);

    await redis.kill();
    const timings: number[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const started = performance.now();
      const response = await presign(one, 'shared', who);
      timings.push(performance.now() - started);
      statuses.push(response.status);
      await response.body?.cancel();
    }
    expect(Math.max(...timings)).toBeLessThan(50);
    // Instance one now limits on its own, from zero: 8 admitted (the reloaded spec), then refusals.
    expect(statuses.filter((status) => status === 200)).toHaveLength(8);
    expect(statuses.slice(8).every((status) => status === 429)).toBe(true);
    expect(await metric(one, 'darkroom_ratelimit_degraded')).toBe('darkroom_ratelimit_degraded 1');
    expect(await metric(one, 'darkroom_ratelimit_backend_errors_total{reason="unavailable"}')).toMatch(/ [1-9]\d*$/);
    expect((await fetch(`${one.darkroom.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${closed.darkroom.url}/readyz`)).status).toBe(200);

    const refused = await presign(closed, 'shared', owner());
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMIT_UNAVAILABLE');

    await redis.restart();
    const deadline = Date.now() + 10_000;
    const recovered = async (stack: Stack) => (await metric(stack, 'darkroom_ratelimit_degraded')) === 'darkroom_ratelimit_degraded 0';
    while (Date.now() < deadline && !((await recovered(one)) && (await recovered(two)) && (await recovered(closed)))) {
      for (const stack of [one, two, closed]) await (await presign(stack, 'burst', owner())).body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await recovered(one)).toBe(true);
    expect(await recovered(closed)).toBe(true);

    // Shared again: the two instances draw from one count.
    const shared = owner();
    const after: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await presign(i % 2 === 0 ? two : one, 'window', shared);
      after.push(response.status);
      await response.body?.cancel();
    }
    expect(after.slice(0, 2)).toEqual([200, 200]);
    expect(after.slice(2).every((status) => status === 429)).toBe(true);
    expect((await presign(closed, 'shared', owner())).status).toBe(200);

    const transitions = one.logLines.filter((line) => /rate-limit store \(Redis\)/.test(String(line.msg))).map((line) => line.level);
    expect(transitions).toEqual(['warn', 'info']);
    const logged = JSON.stringify(one.logLines);
    expect(logged).not.toContain('X-Amz-Signature');
  });
});
