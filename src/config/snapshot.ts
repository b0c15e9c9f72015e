/**
 * Builds an AppSnapshot from validated documents. Pure, shared by every config source so that
 * they agree on what a duplicate name, a broken document or a forbidden bucket means.
 *
 * One app name, one owner: when several documents claim a name, the oldest keeps it (creation
 * time, then namespace name, then order of appearance; documents from a file have no creation
 * time) and the others are refused with `NameConflict`, naming the owner. The owner keeps the
 * name even while its own spec is invalid or its storage not allowed, so that another team cannot
 * take a name over by waiting for a broken edit.
 */
import type { AppSnapshot, InvalidAppReport, UnnamedInvalidDocument } from './app-registry.js';
import type { AppParseResult, DarkroomApp } from './darkroom-app.js';
import { storageRefusal, type StoragePolicy } from './storage-policy.js';

/** One parsed document and where it came from (for messages). */
export interface LocatedParseResult {
  readonly where: string;
  readonly result: AppParseResult;
  /** The object's namespace (Kubernetes); else the document's own, else the default namespace. */
  readonly namespace?: string | undefined;
  /** `metadata.creationTimestamp` (Kubernetes); else the document's own, if any. */
  readonly createdAt?: string | undefined;
}

/** What the build applies beyond validation. */
export interface SnapshotOptions {
  /** `DARKROOM_STORAGE_POLICY_FILE`; absent means any app may name any bucket. */
  readonly storagePolicy?: StoragePolicy | undefined;
  /** Namespace of documents that name none (an apps file). Default `default`. */
  readonly defaultNamespace?: string;
}

interface Claim {
  readonly name: string;
  readonly namespace: string;
  readonly createdAt: number;
  readonly order: number;
  readonly result: AppParseResult;
}

export function buildSnapshot(documents: readonly LocatedParseResult[], options: SnapshotOptions = {}): AppSnapshot {
  const defaultNamespace = options.defaultNamespace ?? 'default';
  const claims = new Map<string, Claim[]>();
  const unnamedInvalid: UnnamedInvalidDocument[] = [];

  documents.forEach(({ where, result, namespace, createdAt }, order) => {
    const name = result.ok ? result.app.metadata.name : result.name;
    if (name === undefined) {
      if (!result.ok) unnamedInvalid.push({ where, problems: result.problems });
      return;
    }
    const metadata = result.ok ? result.app.metadata : undefined;
    const created = Date.parse(createdAt ?? metadata?.creationTimestamp ?? '');
    const claim: Claim = {
      name,
      namespace: namespace ?? metadata?.namespace ?? defaultNamespace,
      createdAt: Number.isNaN(created) ? Number.POSITIVE_INFINITY : created,
      order,
      result,
    };
    claims.set(name, [...(claims.get(name) ?? []), claim]);
  });

  const apps = new Map<string, DarkroomApp>();
  const invalid = new Map<string, InvalidAppReport>();
  const refused = new Map<string, InvalidAppReport>();
  for (const [name, candidates] of claims) {
    const [owner, ...others] = [...candidates].sort(byAge);
    if (!owner) continue;
    for (const other of others) {
      refused.set(`${other.namespace}/${name}`, {
        name,
        namespace: other.namespace,
        reason: 'NameConflict',
        problems: [
          {
            path: 'metadata.name',
            message: `the app name "${name}" is held by DarkroomApp ${owner.namespace}/${name} (created earlier, or listed earlier in the apps file); this one is not served until that one is gone or this one is renamed`,
          },
        ],
      });
    }
    const verdict = ownerVerdict(owner, options.storagePolicy);
    if (verdict.ok) {
      apps.set(name, verdict.app);
      continue;
    }
    const report: InvalidAppReport = { name, namespace: owner.namespace, reason: verdict.reason, problems: verdict.problems };
    invalid.set(name, report);
    refused.set(`${owner.namespace}/${name}`, report);
  }
  return Object.freeze({ apps, invalid, unnamedInvalid, refused });
}

function byAge(a: Claim, b: Claim): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.order - b.order;
}

type OwnerVerdict =
  | { ok: true; app: DarkroomApp }
  | { ok: false; reason: 'InvalidSpec' | 'StorageNotAllowed'; problems: InvalidAppReport['problems'] };

function ownerVerdict(owner: Claim, policy: StoragePolicy | undefined): OwnerVerdict {
  if (!owner.result.ok) return { ok: false, reason: 'InvalidSpec', problems: owner.result.problems };
  const app = owner.result.app;
  const refusal = storageRefusal(policy, owner.namespace, app.spec.storage);
  if (refusal) return { ok: false, reason: 'StorageNotAllowed', problems: [{ path: 'spec.storage.bucket', message: refusal }] };
  return { ok: true, app };
}
