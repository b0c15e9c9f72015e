/**
 * Storage faults mapped on purpose (docs/reads.md, "Storage faults"), through HTTP:
 * - S3 answers a missing key with 403 AccessDenied when darkroom's role lacks s3:ListBucket
 *   (played by a loopback peer answering exactly as S3 does: the XML error on GET, a bare 403 on
 *   HEAD): the client gets 404 IMAGE_NOT_FOUND, never a 5xx; the operator gets
 *   `darkroom_storage_errors_total{reason="access_denied"}` and a warning log line;
 * - a bucket that does not exist (the embedded S3 answers NoSuchBucket): 503 APP_CONFIG_INVALID
 *   without Retry-After, `reason="bucket_missing"` and a warning log line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHangingPeer, type HangingPeer } from '../support/hanging-peer.js';
import { appYaml, startStack, type Stack } from '../support/stack.js';
import { freshKey, metricValue } from './read-support.js';

let peer: HangingPeer;
let stack: Stack;

const accessDenied =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>0123456789ABCDEF</RequestId></Error>';

beforeAll(async () => {
  peer = await startHangingPeer({ kind: 'answer', status: 403, headers: { 'Content-Type': 'application/xml' }, body: accessDenied });
  stack = await startStack({
    appsYaml: [
      appYaml('denied', `storage: {provider: s3, bucket: test-bucket, endpoint: "${peer.endpoint}"}`),
      appYaml('nobucket', 'storage: {provider: s3, bucket: no-such-bucket}'),
    ].join('---\n'),
  });
});

afterAll(async () => {
  await stack?.close();
  await peer?.close();
});

const storageErrors = (app: string, reason: string) => metricValue(stack.darkroom.metrics.storageErrors, { app, reason });
const read = (app: string, init: RequestInit = {}) => fetch(`${stack.darkroom.url}/darkroom/${app}/v2/images/${freshKey()}`, init);
const warnings = (app: string, reason: string) => stack.logLines.filter((line) => line.level === 'warn' && line.app === app && line.reason === reason).length;

describe('a 403 for a missing key (no s3:ListBucket)', () => {
  it('is a 404 IMAGE_NOT_FOUND for GET and HEAD, counted as access_denied and logged, never a 5xx', async () => {
    const before = { metric: await storageErrors('denied', 'access_denied'), logs: warnings('denied', 'access_denied') };
    const get = await read('denied');
    expect(get.status).toBe(404);
    expect(get.headers.get('retry-after')).toBeNull();
    expect(((await get.json()) as { error: { code: string } }).error.code).toBe('IMAGE_NOT_FOUND');
    const head = await read('denied', { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(await storageErrors('denied', 'access_denied')).toBe(before.metric + 2);
    expect(warnings('denied', 'access_denied')).toBe(before.logs + 2);
  });
});

describe('a bucket that does not exist', () => {
  it('is 503 APP_CONFIG_INVALID (an app-level fault, no Retry-After), counted as bucket_missing and logged', async () => {
    const before = { metric: await storageErrors('nobucket', 'bucket_missing'), logs: warnings('nobucket', 'bucket_missing') };
    const get = await read('nobucket');
    expect(get.status).toBe(503);
    expect(get.headers.get('retry-after')).toBeNull();
    const body = (await get.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('APP_CONFIG_INVALID');
    expect(JSON.stringify(body)).not.toContain('no-such-bucket');
    expect(await storageErrors('nobucket', 'bucket_missing')).toBe(before.metric + 1);
    expect(warnings('nobucket', 'bucket_missing')).toBe(before.logs + 1);
  });
});
