/**
 * The try-it page's Content-Security-Policy, derived from the configured apps. Pure.
 *
 * Every other darkroom response carries `default-src 'none'; sandbox`; the page needs a little
 * more, and no more than that: its own script and style, `fetch` to darkroom itself, the upload
 * PUT to the storage origins the apps' presigned URLs point at, and images from the origins
 * public URLs are built on. The storage and image origins are computed from the same settings
 * the storage providers and the public URL builder use, so the page works without
 * `connect-src *` and without learning origins from the network at run time.
 */
import type { DarkroomApp } from '../../config/darkroom-app.js';

/** What the policy is derived from. */
export interface DemoPageCspInput {
  /** The apps currently served. */
  readonly apps: Iterable<DarkroomApp>;
  /** `DARKROOM_S3_ENDPOINT`: the endpoint of S3 apps that name none. */
  readonly s3DefaultEndpoint: string | undefined;
  /** `DARKROOM_PUBLIC_BASE_URL`: the public base of apps that name none. */
  readonly defaultPublicBaseURL: string | undefined;
}

/**
 * Where presigned URLs of AWS S3 apps point. The SDK picks virtual-hosted or path-style and a
 * regional or legacy host name per bucket and region, so the page allows AWS's S3 hosts rather
 * than guess one of them wrongly.
 */
export const awsS3Source = 'https://*.amazonaws.com';
/** Where V4 signed URLs of GCS apps point (path-style, the @google-cloud/storage default). */
export const gcsSource = 'https://storage.googleapis.com';

/** The origins a browser PUTs to for the apps that take public uploads, as CSP sources. */
export function uploadSources(apps: Iterable<DarkroomApp>, s3DefaultEndpoint: string | undefined): string[] {
  const sources = new Set<string>();
  for (const app of apps) {
    // A closed app never hands out an upload URL, so its storage need not be reachable.
    if (!app.spec.allowPublicUpload) continue;
    const { storage } = app.spec;
    const endpoint = storage.endpoint ?? (storage.provider === 's3' ? s3DefaultEndpoint : undefined);
    if (!endpoint) {
      sources.add(storage.provider === 's3' ? awsS3Source : gcsSource);
      continue;
    }
    const url = new URL(endpoint);
    // Path-style (the default with an endpoint) keeps the endpoint's host; virtual-hosted
    // addressing puts the bucket in front of it.
    const pathStyle = storage.provider === 'gcs' || (storage.forcePathStyle ?? true);
    sources.add(pathStyle ? url.origin : `${url.protocol}//${storage.bucket}.${url.host}`);
  }
  return [...sources].sort();
}

/** The origins public URLs are built on, where the page loads the uploaded image from. */
export function imageSources(apps: Iterable<DarkroomApp>, defaultPublicBaseURL: string | undefined): string[] {
  const sources = new Set<string>();
  for (const app of apps) {
    const base = app.spec.publicBaseURL ?? defaultPublicBaseURL;
    if (base) sources.add(new URL(base).origin);
  }
  return [...sources].sort();
}

/** The full header value for the page and its assets. */
export function demoPageCsp(input: DemoPageCspInput): string {
  const apps = [...input.apps];
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    ['img-src', "'self'", ...imageSources(apps, input.defaultPublicBaseURL)].join(' '),
    ['connect-src', "'self'", ...uploadSources(apps, input.s3DefaultEndpoint)].join(' '),
    // The page never turns text into markup; Trusted Types makes the browser hold it to that.
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
