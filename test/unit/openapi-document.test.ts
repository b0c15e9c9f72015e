/**
 * The OpenAPI document describes exactly what the public app serves: every route Express mounts
 * is an operation and every operation a route; every catalogue code appears under its own status,
 * and the codes agree with the README's error table; the request body schema in the document
 * gives the same verdicts as the zod schema the route parses with.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { AppRegistry } from '../../src/config/app-registry.js';
import { errorCatalogue, errorCodes } from '../../src/core/errors.js';
import { buildOpenApiDocument } from '../../src/http/openapi-document.js';
import { presignBodySchema } from '../../src/http/routes/presign-upload.js';
import { DarkroomMetrics } from '../../src/metrics/metrics.js';
import { MemoryRateLimiter } from '../../src/ratelimit/memory-rate-limiter.js';

const document = buildOpenApiDocument('0.0.0-test') as unknown as {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>; requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>;
  components: { schemas?: Record<string, JsonSchema>; responses: Record<string, { description: string; content: Record<string, { schema: JsonSchema }> }> };
};
type JsonSchema = Record<string, unknown>;

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** `METHOD path` of every route the public app mounts. */
function mountedOperations(): string[] {
  const app = createApp({
    registry: new AppRegistry(),
    storage: { forApp: () => { throw new Error('not used'); } },
    rateLimiter: new MemoryRateLimiter(),
    metrics: new DarkroomMetrics({ defaultMetrics: false }),
    logger: pino({ level: 'silent' }),
    defaultPublicBaseURL: undefined,
    notReadyReasons: () => [],
  }) as unknown as { router: { stack: Layer[] } };
  const operations: string[] = [];
  const walk = (layers: Layer[]) => {
    for (const layer of layers) {
      if (layer.route) {
        const path = layer.route.path.replace(/:([A-Za-z]+)/g, '{$1}');
        // router.all(...) is the 405 answer for methods a path does not take: no operation.
        if (layer.route.methods._all) continue;
        for (const method of Object.keys(layer.route.methods)) {
          operations.push(`${method.toUpperCase()} ${path}`);
        }
      } else if (layer.handle.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk(app.router.stack);
  return [...new Set(operations)].sort();
}

const describedOperations = () =>
  Object.entries(document.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();

/** Every `code` enum in an error schema, with the status it is listed under. */
function documentedCodes(): { code: string; status: number }[] {
  const found: { code: string; status: number }[] = [];
  const codesIn = (schema: JsonSchema | undefined): string[] => {
    const error = (schema?.properties as Record<string, JsonSchema> | undefined)?.error;
    const code = (error?.properties as Record<string, JsonSchema> | undefined)?.code;
    return (code?.enum as string[] | undefined) ?? [];
  };
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        for (const code of codesIn(response.content?.['application/json']?.schema)) found.push({ code, status: Number(status) });
      }
    }
  }
  for (const response of Object.values(document.components.responses)) {
    for (const code of codesIn(response.content['application/json']?.schema)) found.push({ code, status: errorCatalogue[code as keyof typeof errorCatalogue].status });
  }
  return found;
}

describe('GET /openapi.json document', () => {
  it('is OpenAPI 3.1', () => {
    expect(document.openapi).toBe('3.1.0');
  });

  it('describes every route the public app mounts, and nothing else', () => {
    // Express answers HEAD through a GET route: the document describes HEAD where it matters (images).
    const described = describedOperations();
    const heads = described.filter((operation) => operation.startsWith('HEAD '));
    expect(heads.filter((head) => !mountedOperations().includes(head.replace(/^HEAD/, 'GET')))).toEqual([]);
    expect(described.filter((operation) => !heads.includes(operation))).toEqual(mountedOperations());
    expect(mountedOperations()).toEqual(expect.arrayContaining(['POST /darkroom/{appName}/v1/images/presigned-urls', 'GET /openapi.json']));
  });

  it('lists every catalogue code, each under its own status', () => {
    const found = documentedCodes();
    expect([...new Set(found.map(({ code }) => code))].sort()).toEqual([...errorCodes].sort());
    for (const { code, status } of found) expect(status, code).toBe(errorCatalogue[code as keyof typeof errorCatalogue].status);
  });

  it('agrees with the README error table: the same codes with the same statuses', () => {
    const readme = readFileSync('README.md', 'utf8');
    const table = new Map([...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| .+ \|$/gm)].map((match) => [String(match[1]), Number(match[2])]));
    const found = new Map(documentedCodes().map(({ code, status }) => [code, status]));
    expect(new Map([...found].sort())).toEqual(new Map([...table].sort()));
  });

  it('carries the presign body schema the route parses with: the same verdicts', () => {
    const schema = document.paths['/darkroom/{appName}/v1/images/presigned-urls']!.post!.requestBody!.content['application/json']!.schema;
    const validate = new Ajv2020({ strict: false }).compile(schema);
    const bodies = [
      { file: 'a.jpg' },
      { file: 'a.jpg', size: 10, contentType: 'image/jpeg' },
      { file: '' },
      { file: 'a.jpg', size: 0 },
      { file: 'a.jpg', size: 1.5 },
      { file: 'a.jpg', extra: true },
      { size: 10 },
      { file: 'x'.repeat(1025) },
    ];
    for (const body of bodies) expect(validate(body), JSON.stringify(body)).toBe(presignBodySchema.safeParse(body).success);
  });
});
