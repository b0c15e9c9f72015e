/**
 * The try-it page end to end in Debian's headless Chromium (driven by playwright-core; no browser
 * is downloaded): the embedded S3 behind its SigV4 verifier and darkroom run in-process, the page
 * asks darkroom for a presigned URL, PUTs the file straight to storage and shows the image from
 * its public URL. Refusals are shown and, where the page or darkroom refuses, nothing reaches
 * storage. Screenshots land in `test-artifacts/`.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page, type Request } from 'playwright-core';
import { appYaml, freePort, startStack, type Stack } from '../support/stack.js';

const chromiumPath = '/usr/bin/chromium';
const artifactsDir = resolve('test-artifacts');
const bucket = 'e2e-bucket';

const appsYaml = [
  appYaml(
    'demo',
    `allowPublicUpload: true
storage: {provider: s3, bucket: ${bucket}, prefix: demo/}
upload: {allowedExtensions: [jpg, jpeg, png, gif, webp], maxBytes: 5242880}
variants: {widths: [160], presets: [{name: thumb, width: 64, height: 64, fit: cover}]}`,
  ),
  appYaml('internal', `allowPublicUpload: false\nstorage: {provider: s3, bucket: ${bucket}, prefix: internal/}`),
  appYaml(
    'tight',
    `allowPublicUpload: true
storage: {provider: s3, bucket: ${bucket}, prefix: tight/}
rateLimit: {requests: 1, windowSeconds: 600}`,
  ),
].join('---\n');

let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let origin: string;
/** A real JPEG, rendered by the browser itself, so it decodes. */
let jpeg: Buffer;
/** Every request the page made, in order. */
let requests: Request[];
/** Console messages and page errors (CSP violations show up here). */
let consoleProblems: string[];

beforeAll(async () => {
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  stack = await startStack({
    appsYaml,
    buckets: [bucket],
    // Only the page's origin may upload, as a real bucket's CORS rule would say.
    corsAllowedOrigins: [origin],
    env: { PORT: String(port), DARKROOM_PUBLIC_BASE_URL: origin, DARKROOM_DEMO_PAGE: 'on' },
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
  jpeg = await renderJpeg(browser);
  await mkdir(artifactsDir, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
  page = await context.newPage();
  requests = [];
  consoleProblems = [];
  page.on('request', (request) => requests.push(request));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') consoleProblems.push(message.text());
  });
  page.on('pageerror', (error) => consoleProblems.push(error.message));
  await page.goto(`${origin}/`);
  // The app list has loaded (the script marks the document when it has).
  await page.waitForSelector('html[data-ready="true"]');
});

afterEach(async () => {
  await context?.close();
});

async function renderJpeg(from: Browser): Promise<Buffer> {
  const scratch = await from.newPage();
  // A string, not a function: the test's TypeScript has no DOM types.
  const dataUrl = await scratch.evaluate<string>(`(() => {
    const canvas = document.createElement('canvas');
    canvas.width = 320;
    canvas.height = 200;
    const g = canvas.getContext('2d');
    const gradient = g.createLinearGradient(0, 0, 320, 200);
    gradient.addColorStop(0, '#0b5cad');
    gradient.addColorStop(1, '#f2a900');
    g.fillStyle = gradient;
    g.fillRect(0, 0, 320, 200);
    g.fillStyle = '#fff';
    g.font = 'bold 32px sans-serif';
    g.fillText('darkroom', 90, 110);
    return canvas.toDataURL('image/jpeg', 0.9);
  })()`);
  await scratch.close();
  const bytes = Buffer.from(dataUrl.replace(/^data:image\/jpeg;base64,/, ''), 'base64');
  expect(bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(true);
  return bytes;
}

const presignRequests = () => requests.filter((r) => r.method() === 'POST' && r.url().includes('/presigned-urls'));
const storageRequests = () => requests.filter((r) => r.url().startsWith(stack.storage.endpoint));

async function screenshot(name: string): Promise<void> {
  const path = join(artifactsDir, `browser-upload-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

async function refusal(): Promise<{ code: string | null; source: string | null; text: string }> {
  const box = page.locator('#refusal');
  await box.waitFor({ state: 'visible' });
  return { code: await box.getAttribute('data-code'), source: await box.getAttribute('data-source'), text: await box.innerText() };
}

describe('the try-it page in headless Chromium', () => {
  it('uploads a JPEG straight to storage and shows it from its public URL', async () => {
    const presigned = page.waitForResponse((r) => r.url().includes('/presigned-urls'));
    await page.setInputFiles('#file', { name: 'sunset.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    const grant = (await (await presigned).json()) as { data: { publicURL: string; uploadURL: string; key: string } };
    await page.waitForSelector('#result[data-loaded="true"]');

    const image = await page.evaluate<{ src: string; naturalWidth: number; naturalHeight: number; alt: string }>(
      `(() => { const i = document.getElementById('image'); return { src: i.src, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, alt: i.alt }; })()`,
    );
    expect(grant.data.publicURL).toMatch(new RegExp(`^${origin}/darkroom/demo/v2/images/[^/]+-sunset\\.jpg$`));
    expect(image.src).toBe(grant.data.publicURL);
    expect(image.naturalWidth).toBe(320);
    expect(image.naturalHeight).toBe(200);
    expect(image.alt).toContain('sunset.jpg');
    expect(await page.locator('#public-url').innerText()).toBe(grant.data.publicURL);
    expect(await page.locator('#status').innerText()).toMatch(/^Done: "sunset\.jpg" was uploaded/);
    expect(await page.locator('#progress').getAttribute('value')).toBe('100');
    expect(await page.locator('#refusal').isHidden()).toBe(true);

    // The bytes went straight to storage, exactly once, not through darkroom.
    expect(presignRequests()).toHaveLength(1);
    const puts = storageRequests().filter((r) => r.method() === 'PUT');
    expect(puts).toHaveLength(1);
    expect(puts[0]!.url()).toBe(grant.data.uploadURL);
    expect((await puts[0]!.response())?.status()).toBe(200);
    // The image was loaded from the public URL, and darkroom served it from storage.
    const read = requests.find((r) => r.url() === grant.data.publicURL);
    expect((await read?.response())?.headers()['content-type']).toBe('image/jpeg');
    expect(Buffer.from((await (await read!.response())!.body())).equals(jpeg)).toBe(true);
    // Its variants side by side, each with the bytes the browser received, in the format it accepts.
    await page.waitForSelector('#variants[data-loaded="true"]');
    const captions = await page.locator('#variant-list figcaption').allInnerTexts();
    expect(captions).toHaveLength(2);
    expect(captions[0]).toMatch(/^160 px wide, 160 x 100, [\d.]+ (bytes|KiB) \(\d+ % of the original\)$/);
    expect(captions[1]).toMatch(/^preset thumb, 64 x 64, [\d.]+ (bytes|KiB) \(\d+ % of the original\)$/);
    expect(await page.locator('#variant-list figure[data-loaded="true"]').count()).toBe(2);
    const variantRead = requests.find((r) => r.url() === `${grant.data.publicURL}?w=160`);
    const variantHeaders = (await variantRead?.response())?.headers() ?? {};
    // Chromium accepts AVIF, so the negotiated variant is AVIF, and says it varies by Accept.
    expect([variantHeaders['content-type'], variantHeaders.vary]).toEqual(['image/avif', 'Accept']);
    // The page's CSP let all of that happen without a single violation.
    expect(consoleProblems).toEqual([]);
    await screenshot('jpeg-uploaded');
  });

  it('refuses a non-image in the page: the message is shown and nothing is requested or uploaded', async () => {
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image\n') });
    const shown = await refusal();
    expect(shown).toMatchObject({ code: 'UNSUPPORTED_FILE_TYPE', source: 'page' });
    expect(shown.text).toContain('"notes.txt" is not a JPEG, PNG, GIF, WebP or AVIF image');
    expect(shown.text).toContain('Nothing was sent.');
    expect(await page.locator('#status').innerText()).toBe('Nothing was uploaded.');
    expect(await page.locator('#result').isHidden()).toBe(true);

    // An SVG (script-capable) is refused the same way.
    await page.setInputFiles('#file', { name: 'logo.svg', mimeType: 'image/svg+xml', buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>') });
    expect(await refusal()).toMatchObject({ code: 'UNSUPPORTED_FILE_TYPE', source: 'page' });
    await screenshot('non-image-refused');

    expect(presignRequests()).toHaveLength(0);
    expect(storageRequests()).toHaveLength(0);
  });

  it("shows darkroom's own refusal of a non-image when the page's checks are skipped, and uploads nothing", async () => {
    await page.check('#skip-checks');
    const answered = page.waitForResponse((r) => r.url().includes('/presigned-urls'));
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image\n') });
    expect((await answered).status()).toBe(415);
    const shown = await refusal();
    expect(shown).toMatchObject({ code: 'UNSUPPORTED_FILE_TYPE', source: 'darkroom' });
    expect(shown.text).toContain('Not an image darkroom accepts');
    expect(presignRequests()).toHaveLength(1);
    expect(storageRequests()).toHaveLength(0);
  });

  it('shows that an app closed to public upload refuses, and uploads nothing', async () => {
    await page.selectOption('#app', 'internal');
    expect(await page.locator('#app-policy').innerText()).toContain('closed to public upload');
    const answered = page.waitForResponse((r) => r.url().includes('/presigned-urls'));
    await page.setInputFiles('#file', { name: 'team.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    expect((await answered).status()).toBe(403);
    const shown = await refusal();
    expect(shown).toMatchObject({ code: 'PUBLIC_UPLOAD_DISABLED', source: 'darkroom' });
    expect(shown.text).toContain('This app is closed to public upload');
    expect(shown.text).toContain('"internal"');
    expect(storageRequests()).toHaveLength(0);
    await screenshot('closed-app-refused');
  });

  it('shows a file that is too large, from the page and from darkroom, and uploads nothing', async () => {
    const big = Buffer.concat([jpeg, Buffer.alloc(5 * 1024 * 1024)]);
    await page.setInputFiles('#file', { name: 'huge.jpg', mimeType: 'image/jpeg', buffer: big });
    expect(await refusal()).toMatchObject({ code: 'FILE_TOO_LARGE', source: 'page' });
    expect(presignRequests()).toHaveLength(0);

    await page.check('#skip-checks');
    const answered = page.waitForResponse((r) => r.url().includes('/presigned-urls'));
    await page.setInputFiles('#file', { name: 'huge2.jpg', mimeType: 'image/jpeg', buffer: big });
    expect((await answered).status()).toBe(413);
    await page.waitForSelector('#refusal[data-source="darkroom"]');
    const shown = await refusal();
    expect(shown).toMatchObject({ code: 'FILE_TOO_LARGE', source: 'darkroom' });
    expect(shown.text).toContain('takes up to 5 MiB');
    expect(storageRequests()).toHaveLength(0);
  });

  it("shows storage's refusal of the PUT when the signed URL does not hold", async () => {
    // Spoil the signature in darkroom's answer, as an expired or tampered URL would be.
    await page.route('**/presigned-urls', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as { data: { uploadURL: string } };
      body.data.uploadURL = body.data.uploadURL.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${'0'.repeat(64)}`);
      await route.fulfill({ response, json: body });
    });
    await page.setInputFiles('#file', { name: 'spoilt.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    const shown = await refusal();
    expect(shown).toMatchObject({ code: 'SignatureDoesNotMatch', source: 'storage' });
    expect(shown.text).toContain('The storage service answered HTTP 403 (SignatureDoesNotMatch)');
    expect(await page.locator('#status').innerText()).toBe('The upload failed.');
    expect(await page.locator('#result').isHidden()).toBe(true);
    const puts = storageRequests().filter((r) => r.method() === 'PUT');
    expect(puts).toHaveLength(1);
    expect((await puts[0]!.response())?.status()).toBe(403);
    await screenshot('storage-refused');
  });

  it('shows a rate-limit refusal with when to retry', async () => {
    await page.selectOption('#app', 'tight');
    await page.setInputFiles('#file', { name: 'first.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await page.waitForSelector('#result[data-loaded="true"]');

    const answered = page.waitForResponse((r) => r.url().includes('/presigned-urls'));
    await page.setInputFiles('#file', { name: 'second.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    const response = await answered;
    expect(response.status()).toBe(429);
    const retryAfter = Number(response.headers()['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    const shown = await refusal();
    expect(shown).toMatchObject({ code: 'RATE_LIMITED', source: 'darkroom' });
    expect(shown.text).toContain(`Try again in ${retryAfter} seconds`);
    expect(await page.locator('#result').isHidden()).toBe(true);
    // The first upload's PUT only.
    expect(storageRequests().filter((r) => r.method() === 'PUT')).toHaveLength(1);
    await screenshot('rate-limited');
  });
});
