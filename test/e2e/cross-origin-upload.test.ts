/**
 * A web app on its own origin uploads through darkroom, in Debian's headless Chromium: the page is
 * served by a tiny server at `http://localhost:P1`, darkroom runs at `http://127.0.0.1:P2` and the
 * embedded S3 (behind its SigV4 verifier) at a third port. The page uses the typed client
 * (`darkroom/client`, as browser modules) and Uppy 6 (`@uppy/core` + `@uppy/aws-s3`, bundled
 * with esbuild at test time into memory: nothing is committed). It presigns cross-origin, PUTs to
 * storage cross-origin, and reads the image back with `fetch` and into a canvas. An app that does
 * not list the page's origin is refused by the browser itself after darkroom's preflight.
 *
 * The measured figures (statuses, durations, preflight headers) are printed and written to
 * `test-artifacts/cross-origin-upload.json`; docs/browser-uploads.md quotes a run.
 */
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadClientModules } from '../../src/http/demo-page/client-module.js';
import { startPageServer, type PageFile, type PageServer } from '../support/page-server.js';
import { appYaml, freePort, startStack, type Stack } from '../support/stack.js';

const chromiumPath = '/usr/bin/chromium';
const artifactsDir = resolve('test-artifacts');
const bucket = 'cross-origin-bucket';

/** The test page: it draws a JPEG, and exposes the two integrations for the test to drive. */
const pageHtml = `<!doctype html><html><head><meta charset="utf-8"><title>another app</title>
<script type="module" src="/app.js"></script></head><body><p>An app on its own origin.</p></body></html>`;

const pageScript = String.raw`
import { uploadImage } from '/client/index.js';
import { Uppy, AwsS3 } from '/uppy.js';

function jpeg() {
  const canvas = document.createElement('canvas');
  canvas.width = 240; canvas.height = 160;
  const g = canvas.getContext('2d');
  g.fillStyle = '#0b5cad'; g.fillRect(0, 0, 240, 160);
  g.fillStyle = '#f2a900'; g.fillRect(0, 0, 120, 160);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
}

function describeError(error) {
  return { ok: false, name: error.name, code: error.code, source: error.source, status: error.status, message: error.message };
}

// Reads the image back the ways another origin's page does: fetch, and into a canvas (taint check).
async function readBack(publicURL) {
  const response = await fetch(publicURL);
  const bytes = (await response.arrayBuffer()).byteLength;
  const image = new Image();
  image.crossOrigin = 'anonymous';
  image.src = publicURL;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
  const g = canvas.getContext('2d');
  g.drawImage(image, 0, 0);
  const pixel = Array.from(g.getImageData(10, 10, 1, 1).data);
  return { status: response.status, bytes, width: image.naturalWidth, height: image.naturalHeight, pixel, dataURL: canvas.toDataURL('image/png').length };
}

window.uploadWithClient = async (options) => {
  const file = new File([await jpeg()], 'cross-origin.jpg', { type: 'image/jpeg' });
  const progress = [];
  try {
    const result = await uploadImage(file, { ...options, onProgress: (p) => progress.push(p.fraction) });
    return { ok: true, result, size: file.size, progress, read: await readBack(result.publicURL) };
  } catch (error) {
    return describeError(error);
  }
};

// Uppy 6: @uppy/aws-s3's signRequest asks darkroom and hands back its uploadURL and headers.
window.uploadWithUppy = async (options) => {
  const grants = new Map();
  const uppy = new Uppy({ autoProceed: false });
  uppy.use(AwsS3, {
    shouldUseMultipart: false,
    // Uppy names the object after the file id; darkroom derives the real key itself.
    generateObjectKey: (file) => file.id,
    async signRequest(request) {
      const file = uppy.getFile(request.key);
      const answer = await fetch(options.baseURL + '/darkroom/' + options.app + '/v1/images/presigned-urls', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Owner-Id': options.owner },
        body: JSON.stringify({ file: file.name, size: file.size, contentType: file.type })
      });
      const body = await answer.json();
      if (!answer.ok) throw new Error(body.error.code + ': ' + body.error.message);
      grants.set(file.id, body.data);
      uppy.setFileMeta(file.id, { publicURL: body.data.publicURL });
      const headers = Object.fromEntries(Object.entries(body.data.headers).filter(([name]) => name.toLowerCase() !== 'content-length'));
      return { url: body.data.uploadURL, key: body.data.key, headers };
    }
  });
  const id = uppy.addFile({ name: 'uppy-photo.jpg', type: 'image/jpeg', data: new File([await jpeg()], 'uppy-photo.jpg', { type: 'image/jpeg' }) });
  const outcome = await uppy.upload();
  const grant = grants.get(id);
  const failed = (outcome && outcome.failed) || [];
  if (failed.length > 0 || !grant) return { ok: false, message: String(failed[0] && failed[0].error) };
  if (uppy.getFile(id).meta.publicURL !== grant.publicURL) return { ok: false, message: 'publicURL not in the file meta' };
  return { ok: true, result: { publicURL: grant.publicURL, key: grant.key }, read: await readBack(grant.publicURL) };
};

document.documentElement.setAttribute('data-ready', 'true');
`;

let stack: Stack;
let pages: PageServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let cdp: CDPSession;
let darkroomOrigin: string;
const files = new Map<string, PageFile>();

/** Every response the page got, and every CORS preflight Chromium sent (seen through CDP). */
let responses: { method: string; url: string; status: number }[];
let preflights: { url: string; status: number; headers: Record<string, string> }[];
const measured: Record<string, unknown> = {};

beforeAll(async () => {
  pages = await startPageServer(files);
  const port = await freePort();
  darkroomOrigin = `http://127.0.0.1:${port}`;
  stack = await startStack({
    appsYaml: [
      appYaml('web', `allowPublicUpload: true\nstorage: {provider: s3, bucket: ${bucket}, prefix: web/}\nupload: {allowedOrigins: ["${pages.origin}"]}`),
      appYaml('elsewhere', `allowPublicUpload: true\nstorage: {provider: s3, bucket: ${bucket}}\nupload: {allowedOrigins: ["https://other.example.test"]}`),
    ].join('---\n'),
    buckets: [bucket],
    // The bucket's CORS rule lets the page's origin PUT, as a real bucket's would.
    corsAllowedOrigins: [pages.origin],
    env: { PORT: String(port), DARKROOM_PUBLIC_BASE_URL: darkroomOrigin },
  });
  const uppy = await build({
    stdin: { contents: "export { default as Uppy } from '@uppy/core';\nexport { default as AwsS3 } from '@uppy/aws-s3';\n", resolveDir: resolve('.'), loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  });
  files.set('/', { type: 'text/html; charset=utf-8', body: pageHtml });
  files.set('/app.js', { type: 'text/javascript', body: pageScript });
  files.set('/uppy.js', { type: 'text/javascript', body: uppy.outputFiles[0]!.text });
  for (const [name, source] of loadClientModules()) files.set(`/client/${name}`, { type: 'text/javascript', body: source });

  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  await mkdir(artifactsDir, { recursive: true });
});

afterAll(async () => {
  console.log(`cross-origin upload figures: ${JSON.stringify(measured, null, 2)}`);
  await writeFile(join(artifactsDir, 'cross-origin-upload.json'), `${JSON.stringify(measured, null, 2)}\n`).catch(() => undefined);
  await browser?.close();
  await stack?.close();
  await pages?.close();
});

beforeEach(async () => {
  context = await browser.newContext();
  page = await context.newPage();
  responses = [];
  preflights = [];
  page.on('response', (response) => responses.push({ method: response.request().method(), url: response.url(), status: response.status() }));
  cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.responseReceived', (event) => {
    if (event.type === 'Preflight') preflights.push({ url: event.response.url, status: event.response.status, headers: lowerCased(event.response.headers) });
  });
  await page.goto(`${pages.origin}/`);
  await page.waitForSelector('html[data-ready="true"]');
});

afterEach(async () => {
  await context?.close();
});

function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/** Durations of the page's requests (Resource Timing), by what they were. */
async function timings(): Promise<{ name: string; durationMs: number }[]> {
  return page.evaluate<{ name: string; durationMs: number }[]>(
    `performance.getEntriesByType('resource').map((e) => ({ name: e.name, durationMs: Math.round(e.duration * 10) / 10 }))`,
  );
}

interface UploadOutcome {
  ok: boolean;
  result?: { publicURL: string; key: string };
  size?: number;
  progress?: number[];
  read?: { status: number; bytes: number; width: number; height: number; pixel: number[]; dataURL: number };
  name?: string;
  code?: string;
  source?: string;
  status?: number;
  message?: string;
}

/** Calls one of the page's integrations (the test's TypeScript has no DOM types, hence globalThis). */
function run(integration: 'uploadWithClient' | 'uploadWithUppy', uploadOptions: ReturnType<typeof options>): Promise<UploadOutcome> {
  return page.evaluate(
    ([name, arg]) => (globalThis as unknown as Record<string, (value: unknown) => Promise<UploadOutcome>>)[name]!(arg),
    [integration, uploadOptions] as const,
  );
}

const options = (app: string) => ({ baseURL: darkroomOrigin, app, owner: 'browser-owner' });
const corsHeaders = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-') || name === 'vary'));

describe('an app on another origin, in Chromium', () => {
  it('uploads with the typed client: presign and PUT cross-origin, then reads the image back into a canvas', async () => {
    const outcome = await run('uploadWithClient', options('web'));
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true });
    expect(outcome.result?.publicURL).toMatch(new RegExp(`^${darkroomOrigin}/darkroom/web/v2/images/[0-9a-f]{32}-cross-origin\\.jpg$`));
    // XHR upload progress reached the end.
    expect(outcome.progress?.at(-1)).toBe(1);
    expect(outcome.read).toMatchObject({ status: 200, bytes: outcome.size, width: 240, height: 160 });
    // The canvas is not tainted (getImageData worked) and holds the image's colours.
    expect(outcome.read?.pixel[2]).toBeLessThan(80);

    const presign = responses.filter((r) => r.url.includes('/presigned-urls'));
    const put = responses.filter((r) => r.method === 'PUT' && r.url.startsWith(stack.storage.endpoint));
    const read = responses.filter((r) => r.url === outcome.result?.publicURL);
    expect(presign.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200']);
    expect(put.map((r) => r.status)).toEqual([200]);
    expect(read.map((r) => r.status)).toEqual([200, 200]);
    // Chromium preflighted the presign (JSON + X-Owner-Id) and the PUT (Content-Type image/jpeg).
    const presignPreflight = preflights.find((p) => p.url.includes('/presigned-urls'));
    expect(presignPreflight?.status).toBe(204);
    expect(corsHeaders(presignPreflight!.headers)).toMatchObject({ 'access-control-allow-origin': pages.origin, 'access-control-allow-methods': 'POST' });
    const storagePreflight = preflights.find((p) => p.url.startsWith(stack.storage.endpoint));
    expect(storagePreflight?.status).toBe(200);
    // S3 echoes the origin; s3rver answers a matching rule with `*`. Either is a grant.
    expect(['*', pages.origin]).toContain(storagePreflight?.headers['access-control-allow-origin']);

    const durations = await timings();
    const durationOf = (match: (name: string) => boolean) => durations.filter((entry) => match(entry.name)).map((entry) => entry.durationMs);
    measured['typed client'] = {
      statuses: { presign: presign.map((r) => r.status), put: put.map((r) => r.status), readBack: read.map((r) => r.status) },
      durationsMs: {
        presign: durationOf((name) => name.includes('/presigned-urls')),
        put: durationOf((name) => name.startsWith(stack.storage.endpoint)),
        readBack: durationOf((name) => name === outcome.result?.publicURL),
      },
      bytes: outcome.size,
      preflightForListedOrigin: { status: presignPreflight?.status, headers: corsHeaders(presignPreflight!.headers) },
      storagePreflight: { status: storagePreflight?.status, headers: corsHeaders(storagePreflight!.headers) },
    };
  });

  it('uploads with Uppy 6 (@uppy/aws-s3 signRequest returning darkroom’s uploadURL and headers)', async () => {
    const outcome = await run('uploadWithUppy', options('web'));
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true });
    expect(outcome.result?.key).toMatch(/^[0-9a-f]{32}-uppy-photo\.jpg$/);
    expect(outcome.read).toMatchObject({ status: 200, width: 240, height: 160 });
    const put = responses.filter((r) => r.method === 'PUT' && r.url.startsWith(stack.storage.endpoint));
    expect(put.map((r) => r.status)).toEqual([200]);
    measured.uppy = {
      statuses: {
        presign: responses.filter((r) => r.url.includes('/presigned-urls')).map((r) => r.status),
        put: put.map((r) => r.status),
        readBack: responses.filter((r) => r.url === outcome.result?.publicURL).map((r) => r.status),
      },
    };
  });

  it('lets a page send the owner as X_Owner_Id too (Chromium sends header names with underscores)', async () => {
    const url = `${darkroomOrigin}/darkroom/web/v1/images/presigned-urls`;
    const status = await page.evaluate(
      async (target) =>
        (await fetch(target, { method: 'POST', headers: { 'Content-Type': 'application/json', X_Owner_Id: 'underscored' }, body: '{"file":"a.jpg","size":10}' })).status,
      url,
    );
    expect(status).toBe(200);
    const preflight = preflights.find((p) => p.url === url);
    expect(preflight?.headers['access-control-allow-headers']).toContain('X_Owner_Id');
  });

  it('is refused by the browser for an app that does not list the origin: a 204 preflight without a grant, no PUT', async () => {
    const outcome = await run('uploadWithClient', options('elsewhere'));
    expect(outcome).toMatchObject({ ok: false, name: 'UploadError', code: 'NETWORK_ERROR', source: 'network' });
    const preflight = preflights.find((p) => p.url.includes('/darkroom/elsewhere/'));
    expect(preflight?.status).toBe(204);
    expect(preflight?.headers['access-control-allow-origin']).toBeUndefined();
    // The browser never sent the POST, so nothing was presigned or uploaded.
    expect(responses.filter((r) => r.method === 'POST' || r.method === 'PUT')).toEqual([]);
    measured.preflightForUnlistedOrigin = { status: preflight?.status, headers: corsHeaders(preflight!.headers) };
  });
});
