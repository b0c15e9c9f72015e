/**
 * The try-it page over HTTP: off unless `DARKROOM_DEMO_PAGE=on`, its own tight CSP derived from
 * the configured apps, and its assets. The browser flow itself is `browser-upload.test.ts`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Script } from 'node:vm';
import { parseDarkroomApp, type DarkroomApp } from '../../src/config/darkroom-app.js';
import { SettingsError, loadSettings } from '../../src/config/settings.js';
import { awsS3Source, demoPageCsp, gcsSource, imageSources, uploadSources } from '../../src/http/demo-page/csp.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';
import { parse } from 'yaml';

function app(name: string, spec: string): DarkroomApp {
  const result = parseDarkroomApp(parse(appYaml(name, spec)));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.app;
}

describe('DARKROOM_DEMO_PAGE', () => {
  it('is off by default, on with "on", and refuses anything else with a clear message', () => {
    expect(loadSettings({}).demoPage).toBe(false);
    expect(loadSettings({ DARKROOM_DEMO_PAGE: 'off' }).demoPage).toBe(false);
    expect(loadSettings({ DARKROOM_DEMO_PAGE: 'on' }).demoPage).toBe(true);
    expect(() => loadSettings({ DARKROOM_DEMO_PAGE: 'yes' })).toThrow(SettingsError);
    expect(() => loadSettings({ DARKROOM_DEMO_PAGE: 'yes' })).toThrow('DARKROOM_DEMO_PAGE: must be "on" or "off" (got "yes")');
  });
});

describe('the page CSP', () => {
  const s3Open = app('a', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: photos}');
  const s3Closed = app('b', 'allowPublicUpload: false\nstorage: {provider: s3, bucket: secret, endpoint: "https://closed.example.test"}');
  const minio = app('c', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: media, endpoint: "http://minio.local:9000/"}');
  const vhost = app('d', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: media, endpoint: "https://s3.example.test", forcePathStyle: false}');
  const gcs = app('e', 'allowPublicUpload: true\nstorage: {provider: gcs, bucket: pics}\npublicBaseURL: "https://img.example.test/"');

  it('allows PUTs only to the storage origins of apps open to public upload', () => {
    expect(uploadSources([s3Open], 'http://127.0.0.1:4567')).toEqual(['http://127.0.0.1:4567']);
    expect(uploadSources([s3Open], undefined)).toEqual([awsS3Source]);
    expect(uploadSources([gcs], 'http://127.0.0.1:4567')).toEqual([gcsSource]);
    expect(uploadSources([minio], 'http://127.0.0.1:4567')).toEqual(['http://minio.local:9000']);
    expect(uploadSources([vhost], undefined)).toEqual(['https://media.s3.example.test']);
    expect(uploadSources([s3Closed], undefined)).toEqual([]);
    expect(uploadSources([minio, s3Open, minio], 'http://127.0.0.1:4567')).toEqual(['http://127.0.0.1:4567', 'http://minio.local:9000']);
  });

  it('allows images from the public base origins', () => {
    expect(imageSources([gcs, s3Open], 'http://localhost:8080')).toEqual(['http://localhost:8080', 'https://img.example.test']);
    expect(imageSources([s3Open], undefined)).toEqual([]);
  });

  it('allows scripts and styles from itself only, no inline code, no markup sinks', () => {
    const csp = demoPageCsp({ apps: [s3Open, s3Closed], s3DefaultEndpoint: 'http://127.0.0.1:4567', defaultPublicBaseURL: 'http://localhost:8080' });
    expect(csp.split('; ')).toEqual([
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' http://localhost:8080",
      "connect-src 'self' http://127.0.0.1:4567",
      "require-trusted-types-for 'script'",
      "trusted-types 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ]);
  });
});

describe('the page over HTTP', () => {
  const appsYaml = [
    appYaml('demo', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}\nupload: {allowedExtensions: [jpg, png], maxBytes: 1000}'),
    appYaml('internal', 'storage: {provider: s3, bucket: test-bucket}'),
  ].join('---\n');
  let off: Stack;
  let on: Stack;

  beforeAll(async () => {
    // One after the other: each stack points the SDK's ambient credentials at its own storage.
    off = await startStack({ appsYaml });
    on = await startStack({ appsYaml, env: { DARKROOM_DEMO_PAGE: 'on', DARKROOM_PUBLIC_BASE_URL: 'http://localhost:8080' } });
  });
  afterAll(async () => {
    await Promise.all([off?.close(), on?.close()]);
  });

  it('is not served by default: / and the assets are unknown paths', async () => {
    for (const path of ['/', '/demo-page/app.js', '/demo-page/apps.json']) {
      const response = await fetch(`${off.darkroom.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toMatchObject({ success: false, error: { code: 'ROUTE_NOT_FOUND' } });
      expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
    }
  });

  it('serves the page with its own CSP, naming the embedded storage it uploads to', async () => {
    const response = await fetch(`${on.darkroom.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain(`connect-src 'self' ${on.storage.endpoint}`);
    expect(csp).toContain("img-src 'self' http://localhost:8080");
    expect(csp).not.toMatch(/unsafe-|sandbox| \*( |;|$)/);
    const html = await response.text();
    // No inline script or style: everything comes from the page's own asset paths.
    expect(html).toContain('<script src="/demo-page/app.js" defer></script>');
    expect(html).not.toMatch(/<script>|<style|\son[a-z]+=/);
  });

  it('serves a script that parses and a stylesheet, both under the page CSP', async () => {
    const script = await fetch(`${on.darkroom.url}/demo-page/app.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const source = await script.text();
    expect(() => new Script(source, { filename: 'app.js' })).not.toThrow();
    // Text from the server or the file reaches the DOM as text only.
    expect(source).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    const style = await fetch(`${on.darkroom.url}/demo-page/style.css`);
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(style.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('serves the upload client the page imports as JavaScript modules, and no other file', async () => {
    for (const name of ['index.js', 'upload-image.js', 'errors.js']) {
      const response = await fetch(`${on.darkroom.url}/demo-page/client/${name}`);
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      const source = await response.text();
      // Types stripped: what is left is JavaScript that imports only its siblings.
      expect(source).not.toMatch(/^\s*(interface|type) |: string|import type/m);
      for (const [, specifier] of source.matchAll(/^(?:import|export)[^;]*from '([^']+)'/gm)) expect(specifier).toMatch(/^\.\/[a-z-]+\.js$/);
    }
    const page = await (await fetch(`${on.darkroom.url}/demo-page/app.js`)).text();
    expect(page).toContain("import('/demo-page/client/index.js')");
    for (const path of ['/demo-page/client/index.ts', '/demo-page/client/..%2fapp.js', '/demo-page/client/nothing.js']) {
      expect((await fetch(`${on.darkroom.url}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${off.darkroom.url}/demo-page/client/index.js`)).status).toBe(404);
  });

  it('lists the served apps with their upload policy, and nothing about storage', async () => {
    const response = await fetch(`${on.darkroom.url}/demo-page/apps.json`);
    expect(await response.json()).toEqual({
      apps: [
        { name: 'demo', allowPublicUpload: true, allowedExtensions: ['jpg', 'png'], maxBytes: 1000 },
        { name: 'internal', allowPublicUpload: false, allowedExtensions: ['jpg', 'jpeg', 'png', 'gif', 'webp'], maxBytes: 10 * 1024 * 1024 },
      ],
    });
  });

  it('refuses other methods on the page paths, and leaves the API headers alone', async () => {
    const post = await fetch(`${on.darkroom.url}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await post.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
    const health = await fetch(`${on.darkroom.url}/healthz`);
    expect(health.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
  });
});
