/**
 * The status darkroom writes is accepted by the CRD's status schema, follows the condition
 * conventions (lastTransitionTime kept while the status holds), and repeating a verdict changes
 * nothing (so the writer writes once).
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { desiredStatus, messageFor, statusUpToDate } from '../../src/config/sources/kubernetes/app-status.js';

const crd = parseYaml(readFileSync('crds/darkroomapp.yaml', 'utf8')) as {
  spec: { versions: { schema: { openAPIV3Schema: { properties: { status: Record<string, unknown> } } } }[] };
};
const stripKubernetes = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(stripKubernetes)
    : typeof value === 'object' && value !== null
      ? Object.fromEntries(Object.entries(value).filter(([key]) => !key.startsWith('x-kubernetes-') && key !== 'format').map(([key, child]) => [key, stripKubernetes(child)]))
      : value;
const validateStatus = new Ajv({ strict: false, allErrors: true }).compile(stripKubernetes(crd.spec.versions[0]!.schema.openAPIV3Schema.properties.status) as object);

const t0 = new Date('2026-11-25T10:00:00.123Z');
const t1 = new Date('2026-11-25T11:00:00.000Z');
const invalid = { ready: false, reason: 'InvalidSpec', problems: [{ path: 'spec.upload.maxBytes', message: 'Too small: expected number to be >=1' }] } as const;

describe('desiredStatus', () => {
  it('produces a status the CRD accepts, for every reason', () => {
    for (const verdict of [{ ready: true } as const, invalid, { ...invalid, reason: 'NameConflict' as const }, { ...invalid, reason: 'CredentialsSecretNotFound' as const }]) {
      const status = desiredStatus(verdict, 3, undefined, t0);
      expect(validateStatus(status), JSON.stringify(validateStatus.errors)).toBe(true);
    }
  });

  it('reports Ready=False with a CamelCase reason, the field path and observedGeneration', () => {
    const status = desiredStatus(invalid, 2, undefined, t0);
    expect(status).toEqual({
      observedGeneration: 2,
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'InvalidSpec',
          message: 'spec.upload.maxBytes: Too small: expected number to be >=1',
          lastTransitionTime: '2026-11-25T10:00:00Z',
          observedGeneration: 2,
        },
      ],
    });
  });

  it('keeps lastTransitionTime while the status holds and moves it when it flips', () => {
    const first = desiredStatus(invalid, 1, undefined, t0);
    const again = desiredStatus({ ...invalid, problems: [{ path: 'spec.cdn.url', message: 'bad' }] }, 2, first, t1);
    expect(again.conditions[0]!.lastTransitionTime).toBe(first.conditions[0]!.lastTransitionTime);
    const flipped = desiredStatus({ ready: true }, 3, again, t1);
    expect(flipped.conditions[0]).toMatchObject({ status: 'True', reason: 'AppServed', lastTransitionTime: '2026-11-25T11:00:00Z' });
  });

  it('is idempotent: the status it produced is up to date for the same verdict, later', () => {
    const written = desiredStatus({ ready: true }, 4, undefined, t0);
    expect(statusUpToDate(written, desiredStatus({ ready: true }, 4, written, t1))).toBe(true);
    expect(statusUpToDate(written, desiredStatus({ ready: true }, 5, written, t1))).toBe(false);
    expect(statusUpToDate(undefined, written)).toBe(false);
  });

  it('bounds the message to what metav1.Condition accepts', () => {
    const problems = Array.from({ length: 2_000 }, (_, index) => ({ path: `spec.field${index}`, message: 'x'.repeat(40) }));
    expect(messageFor(problems).length).toBeLessThanOrEqual(32_768);
    expect(validateStatus(desiredStatus({ ready: false, reason: 'InvalidSpec', problems }, 1, undefined, t0))).toBe(true);
  });
});
