/**
 * The try-it page (`DARKROOM_DEMO_PAGE=on`, which `npm run dev` sets): `GET /` serves a plain
 * page that asks darkroom for a presigned URL, PUTs the chosen image straight to storage and
 * shows it from its public URL. Its assets are TypeScript string modules, so `npm run build`
 * ships them in `dist/` with nothing to copy.
 *
 * The page and its assets replace darkroom's everything-forbidden CSP with the page's own
 * (`demo-page/csp.ts`); `GET /demo-page/apps.json` lists the served apps, their upload policy
 * (so the page can offer them and check a file before asking) and the variants each offers (so
 * the page can show them beside the original).
 */
import type { RequestHandler, Response, Router } from 'express';
import type { AppRegistry } from '../../config/app-registry.js';
import { darkroomError } from '../../core/errors.js';
import { methodNotAllowed } from '../error-handler.js';
import { loadClientModules } from '../demo-page/client-module.js';
import { demoPageCsp } from '../demo-page/csp.js';
import { demoPageHtml, demoPageIcon } from '../demo-page/page-html.js';
import { demoPageScript } from '../demo-page/page-script.js';
import { demoPageStyle } from '../demo-page/page-style.js';

/** How the page is served. */
export interface DemoPageOptions {
  /** `DARKROOM_S3_ENDPOINT`, where S3 apps that name no endpoint upload to (for the CSP). */
  readonly s3DefaultEndpoint: string | undefined;
}

export interface DemoPageDeps extends DemoPageOptions {
  readonly registry: AppRegistry;
  /** `DARKROOM_PUBLIC_BASE_URL`, where the uploaded image is loaded from (for the CSP). */
  readonly defaultPublicBaseURL: string | undefined;
}

/** What `apps.json` says of one app: enough for the page's own checks, nothing about storage. */
export interface DemoPageApp {
  readonly name: string;
  readonly allowPublicUpload: boolean;
  readonly allowedExtensions: readonly string[];
  /** Largest upload, in bytes. */
  readonly maxBytes: number;
  /** The variant widths and preset names the app offers (`spec.variants`); undefined without variants. */
  readonly variants: { readonly widths: readonly number[]; readonly presets: readonly string[] } | undefined;
}

/** Paths of the page's assets, as the HTML names them. */
export const demoPagePaths = {
  page: '/',
  script: '/demo-page/app.js',
  style: '/demo-page/style.css',
  apps: '/demo-page/apps.json',
  icon: '/demo-page/icon.svg',
} as const;

/** Where the page loads the upload client's modules from (`index.js` and what it imports). */
export const demoPageClientPath = '/demo-page/client/:module';

export function demoPageRoutes(router: Router, deps: DemoPageDeps): void {
  const withPageHeaders: RequestHandler = (_req, res, next) => {
    res.locals.route = 'demo_page';
    setPageHeaders(res, deps);
    next();
  };
  const send =
    (contentType: string, body: string): RequestHandler =>
    (_req, res) => {
      res.type(contentType).send(body);
    };

  router.get(demoPagePaths.page, withPageHeaders, send('text/html; charset=utf-8', demoPageHtml));
  router.get(demoPagePaths.script, withPageHeaders, send('text/javascript; charset=utf-8', demoPageScript));
  router.get(demoPagePaths.style, withPageHeaders, send('text/css; charset=utf-8', demoPageStyle));
  router.get(demoPagePaths.icon, withPageHeaders, send('image/svg+xml', demoPageIcon));
  router.get(demoPagePaths.apps, withPageHeaders, (_req, res) => {
    res.json({ apps: listApps(deps.registry) });
  });
  // The upload client the page imports, as browser modules (a fixed set, read once).
  const clientModules = loadClientModules();
  router.get(demoPageClientPath, withPageHeaders, (req, res, next) => {
    const source = clientModules.get(String(req.params.module));
    if (source === undefined) {
      next(darkroomError('ROUTE_NOT_FOUND'));
      return;
    }
    res.type('text/javascript; charset=utf-8').send(source);
  });
  for (const path of [...Object.values(demoPagePaths), demoPageClientPath]) router.all(path, methodNotAllowed(['GET', 'HEAD']));
}

/** The served apps, by name, with their upload policy. */
export function listApps(registry: AppRegistry): DemoPageApp[] {
  return [...registry.snapshot.apps.values()]
    .map((app) => ({
      name: app.metadata.name,
      allowPublicUpload: app.spec.allowPublicUpload,
      allowedExtensions: app.spec.upload.allowedExtensions,
      maxBytes: app.spec.upload.maxBytes,
      variants: app.spec.variants
        ? { widths: app.spec.variants.widths, presets: app.spec.variants.presets.map((preset) => preset.name) }
        : undefined,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function setPageHeaders(res: Response, deps: DemoPageDeps): void {
  res.set({
    // Computed per request: apps (and so storage origins) change while darkroom runs.
    'Content-Security-Policy': demoPageCsp({
      apps: deps.registry.snapshot.apps.values(),
      s3DefaultEndpoint: deps.s3DefaultEndpoint,
      defaultPublicBaseURL: deps.defaultPublicBaseURL,
    }),
    // A development page: always fetch the current one.
    'Cache-Control': 'no-cache',
    'Cross-Origin-Opener-Policy': 'same-origin',
  });
}
