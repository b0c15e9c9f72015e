/**
 * The status darkroom reports on a DarkroomApp, computed purely from what it decided about the
 * object. Kubernetes conventions (kubebuilder's Memcached sample, metav1.Condition): a summary
 * `Ready` condition, CamelCase reasons, a human message naming the field, `observedGeneration`
 * on the status and on the condition, and `lastTransitionTime` changed only when the condition's
 * status flips, so that writing the same verdict twice is a no-op.
 */
import { isDeepStrictEqual } from 'node:util';
import type { SpecProblem } from '../../darkroom-app.js';

/** Why an app is or is not served. */
export type AppVerdict =
  | { readonly ready: true }
  | { readonly ready: false; readonly reason: NotReadyReason; readonly problems: readonly SpecProblem[] };

/** Reasons for `Ready=False` (CamelCase, as the API conventions ask). */
export type NotReadyReason =
  /** The spec failed validation (it slipped past the CRD schema, or the CRD is older). */
  | 'InvalidSpec'
  /** Another DarkroomApp in another namespace claims the same app name. */
  | 'NameConflict'
  /** `storage.credentialsSecretRef` names a Secret that does not exist. */
  | 'CredentialsSecretNotFound'
  /** The Secret exists but lacks the keys the provider needs. */
  | 'CredentialsSecretInvalid'
  /** darkroom may not read the Secret (403: its Role lacks get on it). */
  | 'CredentialsSecretForbidden'
  /** The Secret could not be read for another reason (API error, no answer) and was never read before. */
  | 'CredentialsSecretUnreadable';

/** Reason of `Ready=True`. */
export const readyReason = 'AppServed';

/** A `metav1.Condition`. */
export interface AppCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

/** The `status` of a DarkroomApp. */
export interface AppStatus {
  readonly observedGeneration?: number;
  readonly conditions: readonly AppCondition[];
}

/** Longest condition message the API accepts (metav1.Condition). */
const maxMessageLength = 32_768;

/**
 * The status the object should have. `current` is the object's status as read (anything);
 * `now` dates a transition. Pure.
 */
export function desiredStatus(verdict: AppVerdict, generation: number | undefined, current: unknown, now: Date): AppStatus {
  const status = verdict.ready ? 'True' : 'False';
  const previous = currentReady(current);
  const lastTransitionTime =
    previous && previous.status === status && typeof previous.lastTransitionTime === 'string'
      ? previous.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, 'Z'); // metav1.Time has second precision
  const condition: AppCondition = {
    type: 'Ready',
    status,
    reason: verdict.ready ? readyReason : verdict.reason,
    message: verdict.ready ? 'The app is valid and being served.' : messageFor(verdict.problems),
    lastTransitionTime,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
  };
  return { ...(generation === undefined ? {} : { observedGeneration: generation }), conditions: [condition] };
}

/** True when writing `desired` would change nothing. */
export function statusUpToDate(current: unknown, desired: AppStatus): boolean {
  if (typeof current !== 'object' || current === null) return false;
  const { observedGeneration, conditions } = current as { observedGeneration?: unknown; conditions?: unknown };
  return observedGeneration === desired.observedGeneration && isDeepStrictEqual(conditions, desired.conditions);
}

/** "spec.upload.maxBytes: Too big; spec.cdn.url: must be …", bounded. */
export function messageFor(problems: readonly SpecProblem[]): string {
  const text = problems.map((problem) => `${problem.path}: ${problem.message}`).join('; ') || 'The spec is invalid.';
  return text.length <= maxMessageLength ? text : `${text.slice(0, maxMessageLength - 1)}…`;
}

function currentReady(current: unknown): Partial<AppCondition> | undefined {
  if (typeof current !== 'object' || current === null) return undefined;
  const conditions = (current as { conditions?: unknown }).conditions;
  if (!Array.isArray(conditions)) return undefined;
  return conditions.find((condition: unknown): condition is Partial<AppCondition> =>
    typeof condition === 'object' && condition !== null && (condition as { type?: unknown }).type === 'Ready',
  );
}
