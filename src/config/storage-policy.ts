/**
 * Which buckets and prefixes the apps of each namespace may use with darkroom's own (ambient)
 * identity: `DARKROOM_STORAGE_POLICY_FILE`, a YAML map from a namespace to a list of `bucket` or
 * `bucket/prefix` entries. Without it every app may name any bucket (a single-team install); with
 * it, a namespace that is not listed may use none. Apps with their own `credentialsSecretRef` sign
 * with their own identity and are not restricted. Pure, apart from {@link loadStoragePolicyFile}.
 *
 * ```yaml
 * team-a: [team-a-images, shared-images/team-a/]
 * team-b: [shared-images/team-b/]
 * ```
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { DarkroomAppSpec } from './darkroom-app.js';

/** One allowed place: a whole bucket, or the keys under a prefix of it. */
export interface StorageGrant {
  readonly bucket: string;
  /** Always ends in `/`; undefined means the whole bucket. */
  readonly prefix: string | undefined;
}

/** The parsed policy. */
export interface StoragePolicy {
  /** Grants by namespace. */
  readonly grants: ReadonlyMap<string, readonly StorageGrant[]>;
}

const namespacePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const bucketPattern = /^[a-z0-9][a-z0-9._-]*[a-z0-9]$/;

const entrySchema = z
  .string()
  .min(3)
  .max(512)
  .transform((entry, context): StorageGrant => {
    const slash = entry.indexOf('/');
    const bucket = slash === -1 ? entry : entry.slice(0, slash);
    const rest = slash === -1 ? '' : entry.slice(slash + 1);
    if (!bucketPattern.test(bucket) || bucket.length > 222) context.addIssue({ code: 'custom', message: `"${entry}": "${bucket}" is not a bucket name` });
    if (rest.split('/').some((part) => part === '..' || part === '.')) context.addIssue({ code: 'custom', message: `"${entry}": the prefix must not contain . or .. segments` });
    // `bucket/team-a` means the folder team-a/: without the slash, team-ab/ would match too.
    return { bucket, prefix: rest === '' ? undefined : rest.endsWith('/') ? rest : `${rest}/` };
  });

const policySchema = z.record(z.string(), z.array(entrySchema).max(1_000));

/** Parses the policy file's text; throws an Error naming every problem. */
export function parseStoragePolicy(text: string, where: string): StoragePolicy {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new Error(`${where}: not YAML: ${(error as Error).message}`);
  }
  const result = policySchema.safeParse(document ?? {});
  // Keys are checked apart from the record schema, whose key failures zod reports without the reason.
  const keys = typeof document === 'object' && document !== null && !Array.isArray(document) ? Object.keys(document) : [];
  const keyProblems = keys.filter((key) => key.length > 63 || !namespacePattern.test(key)).map((key) => `${key}: keys must be namespace names`);
  if (!result.success || keyProblems.length > 0) {
    const problems = [...keyProblems, ...(result.error?.issues ?? []).map((issue) => `${issue.path.map(String).join('.') || '(document)'}: ${issue.message}`)];
    throw new Error(`${where} is not a storage policy (a map from namespace to a list of "bucket" or "bucket/prefix"): ${problems.join('; ')}`);
  }
  return { grants: new Map(Object.entries(result.data ?? {})) };
}

/** Reads and parses `DARKROOM_STORAGE_POLICY_FILE`; throws with a clear message. */
export async function loadStoragePolicyFile(path: string): Promise<StoragePolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`DARKROOM_STORAGE_POLICY_FILE: cannot read ${path}: ${(error as Error).message}`);
  }
  return parseStoragePolicy(text, `DARKROOM_STORAGE_POLICY_FILE ${path}`);
}

/**
 * Why an app of `namespace` may not use `storage`, or undefined when it may. Apps with their own
 * credentials are not restricted; without a policy, nothing is.
 */
export function storageRefusal(policy: StoragePolicy | undefined, namespace: string, storage: DarkroomAppSpec['storage']): string | undefined {
  if (!policy || storage.credentialsSecretRef) return undefined;
  const grants = policy.grants.get(namespace) ?? [];
  const allowed = grants.some((grant) => grant.bucket === storage.bucket && (grant.prefix === undefined || storage.prefix.startsWith(grant.prefix)));
  if (allowed) return undefined;
  const where = storage.prefix ? `bucket "${storage.bucket}" with prefix "${storage.prefix}"` : `bucket "${storage.bucket}"`;
  const list = grants.map((grant) => `${grant.bucket}${grant.prefix ? `/${grant.prefix}` : ''}`).join(', ');
  return `namespace "${namespace}" may not use ${where} with darkroom's own identity (the storage policy allows it ${list ? list : 'no bucket'}); name a credentialsSecretRef, or ask the platform team to extend the policy`;
}
