/**
 * `GET /openapi.json`: the OpenAPI 3.1 description of the public API, built once at start (it
 * depends on no configuration) and served as a fixed text.
 */
import type { Router } from 'express';
import { buildOpenApiDocument, openApiPaths } from '../openapi-document.js';
import { sendJson } from '../json-response.js';

export function openApiRoutes(router: Router, version: string): void {
  const document = buildOpenApiDocument(version);
  router.get(openApiPaths.openapi, (_req, res) => {
    res.locals.route = 'openapi';
    // Same for every caller and every deploy of one version; CORS-readable so tools in a browser can load it.
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.setHeader('Access-Control-Allow-Origin', '*');
    sendJson(res, 200, document);
  });
}
