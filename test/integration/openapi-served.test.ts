/**
 * `GET /openapi.json` on the public port serves the generated document, and live answers of the
 * described endpoints parse with the response schemas the document was generated from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorResponseSchema, presignErrorCodes, presignResponseSchema } from '../../src/http/api-schemas.js';
import { buildOpenApiDocument } from '../../src/http/openapi-document.js';
import { darkroomVersion } from '../../src/version.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ appsYaml: appYaml('shop', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket}') });
});
afterAll(async () => {
  await stack?.close();
});

describe('GET /openapi.json', () => {
  it('serves the OpenAPI 3.1 document on the public port, readable from any origin', async () => {
    const response = await fetch(`${stack.darkroom.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const served = (await response.json()) as { openapi: string; info: { version: string } };
    expect(served).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument(darkroomVersion))));
    expect(served.info.version).toBe(darkroomVersion);
    // Not on the admin port: that one serves /metrics only.
    expect((await fetch(`${stack.darkroom.adminUrl}/openapi.json`)).status).toBe(404);
  });

  it('describes answers as they are: a grant and a refusal parse with the schemas', async () => {
    const post = (body: unknown) =>
      fetch(`${stack.darkroom.url}/darkroom/shop/v1/images/presigned-urls`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Owner-Id': 'openapi' },
        body: JSON.stringify(body),
      });
    const granted = await post({ file: 'a.png', size: 100 });
    expect(granted.status).toBe(200);
    expect(presignResponseSchema.safeParse(await granted.json()).success).toBe(true);
    const refused = await post({ file: 'a.svg' });
    expect(refused.status).toBe(415);
    expect(errorResponseSchema(presignErrorCodes).safeParse(await refused.json()).success).toBe(true);
  });
});
