/**
 * The status darkroom reports on a DarkroomApp, computed purely from what it decided about the
 * object. Kubernetes conventions (kubebuilder's Memcached sample, metav1.Condition): a summary
 * `Ready` condition, CamelCase reasons, a human message naming the field, `observedGeneration`
 * on the status and on the condition, and `lastTransitionTime` changed only when the condition's
 * status flips, so that writing the same verdict twice is a no-op.
 */
import { isDeepStrictEqual } from 'node:util';
import type { RefusalReason } from '../../app-registry.js';
import type { SpecProblem } from '../../darkroom-app.js';

/** Why an app is or is not served. */
export type AppVerdict =
  | { readonly ready: true }
  | { readonly ready: false; readonly reason: NotReadyReason; readonly problems: readonly SpecProblem[] };

/** Reasons for `Ready=False` (CamelCase, as the API conventions ask): why an app is not served. */
export type NotReadyReason = RefusalReason;

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

/** A condition besides `Ready` (e.g. `CORSReady`), before its transition time is set. */
export interface ExtraCondition {
  readonly type: string;
  readonly status: AppCondition['status'];
  readonly reason: string;
  readonly message: string;
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
export function desiredStatus(
  verdict: AppVerdict,
  generation: number | undefined,
  current: unknown,
  now: Date,
  extra: readonly ExtraCondition[] = [],
): AppStatus {
  const ready: ExtraCondition = {
    type: 'Ready',
    status: verdict.ready ? 'True' : 'False',
    reason: verdict.ready ? readyReason : verdict.reason,
    message: verdict.ready ? 'The app is valid and being served.' : messageFor(verdict.problems),
  };
  const conditions = [ready, ...extra].map((condition): AppCondition => {
    const previous = currentCondition(current, condition.type);
    const lastTransitionTime =
      previous && previous.status === condition.status && typeof previous.lastTransitionTime === 'string'
        ? previous.lastTransitionTime
        : now.toISOString().replace(/\.\d{3}Z$/, 'Z'); // metav1.Time has second precision
    return {
      ...condition,
      message: condition.message.length <= maxMessageLength ? condition.message : `${condition.message.slice(0, maxMessageLength - 1)}…`,
      lastTransitionTime,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
    };
  });
  return { ...(generation === undefined ? {} : { observedGeneration: generation }), conditions };
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

function currentCondition(current: unknown, type: string): Partial<AppCondition> | undefined {
  if (typeof current !== 'object' || current === null) return undefined;
  const conditions = (current as { conditions?: unknown }).conditions;
  if (!Array.isArray(conditions)) return undefined;
  return conditions.find((condition: unknown): condition is Partial<AppCondition> =>
    typeof condition === 'object' && condition !== null && (condition as { type?: unknown }).type === type,
  );
}
