/**
 * The CRD that ships (crds/darkroomapp.yaml) and the zod schema darkroom applies agree: every
 * example and fixture document gets the same verdict from both, at every numeric bound, and both
 * know the same spec fields. The CRD side is evaluated the way the API server does it: defaults
 * applied, the structural OpenAPI schema checked (unknown fields rejected, as `kubectl apply`'s
 * default strict field validation does), then the CEL `x-kubernetes-validations` rules evaluated.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { evaluate } from '@marcbachmann/cel-js';
import { Ajv } from 'ajv';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { darkroomAppSpecSchema, parseDarkroomApp } from '../../src/config/darkroom-app.js';

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  'x-kubernetes-validations'?: { rule: string; message: string }[];
  [key: string]: unknown;
};

const crd = parseYaml(readFileSync('crds/darkroomapp.yaml', 'utf8')) as {
  spec: { versions: { name: string; storage: boolean; schema: { openAPIV3Schema: Schema } }[] };
};
const version = crd.spec.versions.find((candidate) => candidate.storage)!;
const openApi = version.schema.openAPIV3Schema;

/** The OpenAPI schema as JSON Schema for ajv: unknown fields rejected except in metadata. */
function toJsonSchema(schema: Schema, path: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'format') continue;
    if (key === 'properties') {
      result.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([name, child]) => [name, toJsonSchema(child, `${path}.${name}`)]));
    } else if (key === 'items') {
      result.items = toJsonSchema(value as Schema, `${path}[]`);
    } else {
      result[key] = value;
    }
  }
  if (schema.type === 'object' && schema.properties && path !== '.metadata') result.additionalProperties = false;
  return result;
}

const ajv = new Ajv({ useDefaults: true, strict: false, allErrors: true });
const validateStructure = ajv.compile(toJsonSchema(openApi, ''));

/** CEL sees integers as int, not double. */
function toCel(value: unknown, schema: Schema | undefined): unknown {
  if (schema?.type === 'integer' && typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map((item) => toCel(item, schema?.items));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, toCel(child, schema?.properties?.[key])]));
  }
  return value;
}

/** Evaluates every CEL rule on the nodes present, as the API server does after defaulting. */
function celFailures(schema: Schema, value: unknown, path: string): string[] {
  if (value === undefined) return [];
  const failures: string[] = [];
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    if (evaluate(rule.rule, { self: toCel(value, schema) }) !== true) failures.push(`${path}: ${rule.message}`);
  }
  if (schema.properties && typeof value === 'object' && value !== null) {
    for (const [name, child] of Object.entries(schema.properties)) failures.push(...celFailures(child, (value as Record<string, unknown>)[name], `${path}.${name}`));
  }
  if (schema.items && Array.isArray(value)) value.forEach((item, index) => failures.push(...celFailures(schema.items!, item, `${path}[${index}]`)));
  return failures;
}

/** `x-kubernetes-list-type: map` lists whose entries repeat a key: the API server refuses them ("Duplicate value"). */
function duplicateMapKeys(schema: Schema, value: unknown, path: string): string[] {
  if (value === undefined || value === null) return [];
  const failures: string[] = [];
  const keys = schema['x-kubernetes-list-map-keys'] as string[] | undefined;
  if (schema['x-kubernetes-list-type'] === 'map' && keys && Array.isArray(value)) {
    const seen = value.map((item) => JSON.stringify(keys.map((key) => (item as Record<string, unknown>)[key])));
    if (new Set(seen).size !== seen.length) failures.push(`${path}: Duplicate value`);
  }
  if (schema.properties && typeof value === 'object') {
    for (const [name, child] of Object.entries(schema.properties)) failures.push(...duplicateMapKeys(child, (value as Record<string, unknown>)[name], `${path}.${name}`));
  }
  if (schema.items && Array.isArray(value)) value.forEach((item, index) => failures.push(...duplicateMapKeys(schema.items!, item, `${path}[${index}]`)));
  return failures;
}

/** The API server's verdict on a document, and why. */
function crdVerdict(document: unknown): { valid: boolean; why: string[] } {
  const copy = structuredClone(document);
  if (!validateStructure(copy)) return { valid: false, why: (validateStructure.errors ?? []).map((error) => `${error.instancePath} ${error.message}`) };
  const duplicates = duplicateMapKeys(openApi, copy, '');
  if (duplicates.length > 0) return { valid: false, why: duplicates };
  const failures = celFailures(openApi, copy, '');
  return { valid: failures.length === 0, why: failures };
}

function zodVerdict(document: unknown): { valid: boolean; why: string[] } {
  const result = parseDarkroomApp(document);
  return result.ok ? { valid: true, why: [] } : { valid: false, why: result.problems.map((problem) => `${problem.path}: ${problem.message}`) };
}

function documentsIn(file: string): { where: string; document: Record<string, unknown> }[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((document, index) => ({ where: `${file} #${index + 1}`, document: document.toJS() as Record<string, unknown> }))
    .filter(({ document }) => document?.kind === 'DarkroomApp');
}

const examples = readdirSync('examples')
  .filter((file) => /\.ya?ml$/.test(file))
  .flatMap((file) => documentsIn(`examples/${file}`));
const fixtures = documentsIn('test/fixtures/darkroomapps.yaml');

const base = { apiVersion: 'darkroom.dev/v1alpha1', kind: 'DarkroomApp', metadata: { name: 'bounds' } };

describe('crds/darkroomapp.yaml', () => {
  it('is a namespaced v1 CRD of darkroom.dev/v1alpha1 with a status subresource, short name and category', () => {
    const raw = crd as unknown as { apiVersion: string; spec: Record<string, unknown> & { names: Record<string, unknown> } };
    expect(raw.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(raw.spec).toMatchObject({ group: 'darkroom.dev', scope: 'Namespaced', names: { kind: 'DarkroomApp', plural: 'darkroomapps', shortNames: ['dra'], categories: ['darkroom'] } });
    expect(version).toMatchObject({ name: 'v1alpha1', subresources: { status: {} } });
    const columns = (version as unknown as { additionalPrinterColumns: { name: string }[] }).additionalPrinterColumns.map((column) => column.name);
    expect(columns).toEqual(expect.arrayContaining(['Provider', 'Bucket', 'CDN', 'Public Upload', 'Ready', 'Age']));
  });

  it('is structural and documented: every node has a type, every field a description, every string and list a bound', () => {
    const problems: string[] = [];
    const walk = (schema: Schema, path: string) => {
      if (!schema.type) problems.push(`${path}: no type`);
      if (path !== '' && path !== '.metadata' && !schema.description && !path.endsWith('[]')) problems.push(`${path}: no description`);
      if (schema.type === 'string' && schema.maxLength === undefined && schema.enum === undefined && !['.apiVersion', '.kind'].includes(path)) problems.push(`${path}: unbounded string`);
      if (schema.type === 'array' && schema.maxItems === undefined) problems.push(`${path}: unbounded list`);
      for (const [name, child] of Object.entries(schema.properties ?? {})) walk(child, `${path}.${name}`);
      if (schema.items) walk(schema.items, `${path}[]`);
    };
    walk(openApi, '');
    expect(problems).toEqual([]);
  });

  it('knows exactly the spec fields the zod schema knows', () => {
    // List items count too (spec.variants.presets[].width): `[]` marks a step into a list.
    const crdFields = (schema: Schema, path: string): string[] => [
      ...Object.entries(schema.properties ?? {}).flatMap(([name, child]) => [`${path}${name}`, ...crdFields(child, `${path}${name}.`)]),
      ...(schema.items ? crdFields(schema.items, `${path.replace(/\.$/, '')}[].`) : []),
    ];
    const zodFields = (schema: z.ZodType, path: string): string[] => {
      const element = arrayElement(schema);
      if (element) return zodFields(element, `${path.replace(/\.$/, '')}[].`);
      const shape = objectShape(schema);
      if (!shape) return [];
      return Object.entries(shape).flatMap(([name, child]) => [`${path}${name}`, ...zodFields(child, `${path}${name}.`)]);
    };
    expect(crdFields(openApi.properties!.spec!, '').sort()).toEqual(zodFields(darkroomAppSpecSchema, '').sort());
  });

  it.each([...examples, ...fixtures].map((entry) => [entry.where, entry.document] as const))('%s: same verdict from the CRD and zod', (_where, document) => {
    const fromCrd = crdVerdict(document);
    const fromZod = zodVerdict(document);
    // The CRD's verdict must equal zod's; `why` is there to explain a failure.
    expect({ crd: fromCrd.valid, why: [...fromCrd.why, ...fromZod.why] }).toMatchObject({ crd: fromZod.valid });
    const annotations = (document.metadata as { annotations?: Record<string, string> }).annotations;
    const expected = annotations?.['darkroom.test/expect'] ?? 'valid'; // examples must all be valid
    expect(fromZod.valid ? 'valid' : 'invalid').toBe(expected);
  });

  it('the examples keep the demo app open to public upload (npm run dev)', () => {
    const demo = examples.find(({ document }) => (document.metadata as { name: string }).name === 'demo');
    expect((demo?.document.spec as { allowPublicUpload?: boolean } | undefined)?.allowPublicUpload).toBe(true);
  });

  it('applies the same defaults as zod', () => {
    const document = { ...base, spec: { storage: { provider: 's3', bucket: 'abc' }, cdn: { url: 'https://cdn.example.com' } } };
    const defaulted = structuredClone(document);
    expect(validateStructure(defaulted)).toBe(true);
    const parsed = parseDarkroomApp(document);
    if (!parsed.ok) throw new Error('fixture invalid');
    expect(defaulted.spec).toEqual(JSON.parse(JSON.stringify(parsed.app.spec)));
  });

  it('applies the same variant defaults as zod (lists, fit, format, maxInputPixels; prefix stays absent)', () => {
    const document = { ...base, spec: { storage: { provider: 's3', bucket: 'abc' }, variants: { presets: [{ name: 'thumb', width: 200 }] } } };
    const defaulted = structuredClone(document);
    expect(validateStructure(defaulted)).toBe(true);
    const parsed = parseDarkroomApp(document);
    if (!parsed.ok) throw new Error('fixture invalid');
    expect(defaulted.spec.variants).toEqual(JSON.parse(JSON.stringify(parsed.app.spec.variants)));
    expect(parsed.app.spec.variants).toEqual({ widths: [], qualities: [], maxInputPixels: 40_000_000, presets: [{ name: 'thumb', width: 200, fit: 'inside', format: 'auto' }] });
  });

  // Every integer bound in the CRD, probed just inside and just outside, on both schemas.
  const integerFields: { path: string[]; minimum: number; maximum: number }[] = [];
  const collect = (schema: Schema, path: string[]) => {
    if (schema.type === 'integer' && schema.minimum !== undefined && schema.maximum !== undefined) integerFields.push({ path, minimum: schema.minimum, maximum: schema.maximum });
    for (const [name, child] of Object.entries(schema.properties ?? {})) collect(child, [...path, name]);
    if (schema.items) collect(schema.items, [...path, '[]']);
  };
  /** The smallest valid parent each probed field needs around it. */
  const seeds: Record<string, () => Record<string, unknown>> = {
    cdn: () => ({ url: 'https://cdn.example.com' }),
    auth: () => ({ mode: 'jwt' }),
    jwt: () => ({ jwksURL: 'https://login.example.com/jwks', issuer: 'iss', audiences: ['shop'] }),
    presets: () => ({ name: 'probe', width: 100 }),
  };
  collect(openApi.properties!.spec!, []);

  it.each(integerFields.flatMap(({ path, minimum, maximum }) => [minimum - 1, minimum, maximum, maximum + 1].map((value) => [path.join('.'), value] as const)))(
    'spec.%s = %d: same verdict',
    (joined, value) => {
      const spec: Record<string, unknown> = { storage: { provider: 's3', bucket: 'abc' } };
      // "variants.presets.[].width": a list step holds one entry, seeded so that only the probed value varies.
      const path = joined.split('.');
      let node = spec;
      path.slice(0, -1).forEach((part, index) => {
        if (part === '[]') return;
        if (path[index + 1] === '[]') {
          const list = (node[part] ??= index + 2 < path.length ? [seeds[part]?.() ?? {}] : []) as unknown[];
          if (index + 2 < path.length) node = list[0] as Record<string, unknown>;
          else list.push(value);
        } else {
          node = (node[part] ??= seeds[part]?.() ?? {}) as Record<string, unknown>;
        }
      });
      if (path.at(-1) !== '[]') node[path.at(-1)!] = value;
      expect(crdVerdict({ ...base, spec }).valid).toBe(zodVerdict({ ...base, spec }).valid);
      const inside = Number(value) >= integerFields.find((field) => field.path.join('.') === joined)!.minimum && Number(value) <= integerFields.find((field) => field.path.join('.') === joined)!.maximum;
      expect(zodVerdict({ ...base, spec }).valid).toBe(inside);
    },
  );
});

/** The element schema of a zod array schema, looking through optional/default/pipe wrappers. */
function arrayElement(schema: z.ZodType): z.ZodType | undefined {
  let current: unknown = schema;
  for (let depth = 0; depth < 10 && current; depth += 1) {
    if (current instanceof z.ZodArray) return current.element as z.ZodType;
    if (current instanceof z.ZodObject) return undefined;
    const def = (current as { def?: { innerType?: unknown; in?: unknown } }).def;
    current = def?.innerType ?? def?.in;
  }
  return undefined;
}

/** The shape of a zod object schema, looking through optional/default/pipe wrappers. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let current: unknown = schema;
  for (let depth = 0; depth < 10 && current; depth += 1) {
    if (current instanceof z.ZodObject) return current.shape;
    const def = (current as { def?: { innerType?: unknown; in?: unknown } }).def;
    current = def?.innerType ?? def?.in;
  }
  return undefined;
}
