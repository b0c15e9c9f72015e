/**
 * darkroom's own CORS answers over real HTTP: the presign endpoint's preflight and actual answers
 * for a listed origin, an unlisted one, an unknown app and an app that lists none; public reads
 * open to every origin. (The browser's side of the same exchange: test/e2e/cross-origin-upload.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jpegBytes } from '../fixtures/images.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';

const listed = 'https://app.example.test';
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    appsYaml: [
      appYaml(
        'web',
        `allowPublicUpload: true
storage: {provider: s3, bucket: test-bucket, prefix: web/}
upload: {allowedOrigins: ["${listed}", "http://localhost:5173"]}
rateLimit: {requests: 1, windowSeconds: 600}`,
      ),
      appYaml('closed-origins', `allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}`),
    ].join('---\n'),
  });
});

afterAll(async () => {
  await stack?.close();
});

const presignPath = (app: string) => `/darkroom/${app}/v1/images/presigned-urls`;

function preflight(path: string, origin: string, method = 'POST', headers = 'content-type,x-owner-id'): Promise<Response> {
  return fetch(`${stack.darkroom.url}${path}`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': headers },
  });
}

function corsHeadersOf(response: Response): Record<string, string> {
  return Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-') || name === 'vary'));
}

describe('the presign endpoint', () => {
  it('answers a listed origin’s preflight with 204, the method, the request headers and a max age', async () => {
    const response = await preflight(presignPath('web'), listed);
    expect(response.status).toBe(204);
    expect(corsHeadersOf(response)).toEqual({
      'access-control-allow-origin': listed,
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'Content-Type, X-Owner-Id, X_Owner_Id, Authorization',
      'access-control-max-age': '600',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    });
    expect(response.headers.get('allow')).toBe('POST, OPTIONS');
    expect(await response.text()).toBe('');
  });

  it.each([
    ['an unlisted origin', 'web', 'https://evil.example.test'],
    ['a listed origin with another port', 'web', 'http://localhost:5174'],
    ['an app that lists no origin', 'closed-origins', listed],
    ['an unknown app', 'no-such-app', listed],
  ])('answers the preflight of %s with 204 and no CORS grant (the browser refuses), never 405', async (_name, app, origin) => {
    const response = await preflight(presignPath(app), origin);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-methods')).toBeNull();
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('grants nothing to a preflight for another method', async () => {
    const response = await preflight(presignPath('web'), listed, 'PUT');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('echoes a listed origin on the answer and on a refusal, exposing the rate-limit headers', async () => {
    const post = () =>
      fetch(`${stack.darkroom.url}${presignPath('web')}`, {
        method: 'POST',
        headers: { Origin: listed, 'Content-Type': 'application/json', 'X-Owner-Id': 'cors-owner' },
        body: JSON.stringify({ file: 'a.jpg', size: jpegBytes(100).length }),
      });
    const granted = await post();
    expect(granted.status).toBe(200);
    expect(corsHeadersOf(granted)).toEqual({
      'access-control-allow-origin': listed,
      'access-control-expose-headers': 'RateLimit, RateLimit-Policy, Retry-After, X-Request-Id, WWW-Authenticate',
      vary: 'Origin',
    });
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('access-control-allow-origin')).toBe(listed);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('sends no grant to an unlisted origin’s actual request, and none without an Origin', async () => {
    const refusedOrigin = await fetch(`${stack.darkroom.url}${presignPath('web')}`, {
      method: 'POST',
      headers: { Origin: 'https://evil.example.test', 'Content-Type': 'application/json', 'X-Owner-Id': 'other' },
      body: '{"file":"a.jpg","size":10}',
    });
    expect(refusedOrigin.headers.get('access-control-allow-origin')).toBeNull();
    expect(refusedOrigin.headers.get('vary')).toBe('Origin');
    const sameOrigin = await fetch(`${stack.darkroom.url}${presignPath('web')}`, { method: 'POST', headers: { 'X-Owner-Id': 'x' } });
    expect(sameOrigin.headers.get('access-control-allow-origin')).toBeNull();
    expect(sameOrigin.headers.get('vary')).toBeNull();
  });

  it('still answers other methods with 405, naming OPTIONS as allowed', async () => {
    const response = await fetch(`${stack.darkroom.url}${presignPath('web')}`, { method: 'PUT' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST, OPTIONS');
  });
});

describe('public reads', () => {
  const imagePath = `/darkroom/web/v2/images/${'0'.repeat(32)}-missing.jpg`;

  it('allow any origin, including on a 404, and may be embedded cross-origin', async () => {
    const response = await fetch(`${stack.darkroom.url}${imagePath}`, { headers: { Origin: 'https://anywhere.example.test' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(response.headers.get('access-control-expose-headers')).toBe('ETag, Content-Range, Accept-Ranges, X-Request-Id');
  });

  it('answer a preflight for conditional and range reads', async () => {
    const response = await preflight(imagePath, 'https://anywhere.example.test', 'GET', 'if-none-match,range');
    expect(response.status).toBe(204);
    expect(corsHeadersOf(response)).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, HEAD',
      'access-control-allow-headers': 'Range, If-None-Match, If-Modified-Since, If-Range',
    });
  });
});
