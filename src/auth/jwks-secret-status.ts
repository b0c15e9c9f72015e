/**
 * What `.status` says about an app's `auth.jwt.jwksSecretRef`: the Secret must exist and its key
 * `jwks` must hold a JWKS that jose accepts. Pure over what the Secret reader knows.
 */
import type { DarkroomApp } from '../config/darkroom-app.js';
import { jwksSecretKey } from './owner-authenticators.js';
import { staticJwks } from './jwks-keys.js';

/** What the Secret reader knows of one Secret (the shape of the Kubernetes source's `SecretState`). */
export type KnownSecret =
  | { readonly state: 'unknown' }
  | { readonly state: 'missing' }
  | { readonly state: 'present'; readonly data: Readonly<Record<string, string>> }
  /** Never read successfully: `status` is the HTTP status of the last attempt (403: RBAC), 0 without a response. */
  | { readonly state: 'unreadable'; readonly status: number };

/** The verdict on the JWKS Secret: fine, not known yet (report later), or why not ready. */
export type JwksSecretVerdict =
  | 'ok'
  | undefined
  | {
      readonly ready: false;
      readonly reason: 'JwksSecretNotFound' | 'JwksSecretInvalid' | 'JwksSecretUnreadable';
      readonly problems: readonly { readonly path: string; readonly message: string }[];
    };

export function jwksSecretVerdict(app: DarkroomApp, namespace: string, secrets: { state(namespace: string, name: string): KnownSecret }): JwksSecretVerdict {
  const ref = app.spec.auth.jwt?.jwksSecretRef;
  if (!ref) return 'ok';
  const path = 'spec.auth.jwt.jwksSecretRef.name';
  const secret = secrets.state(namespace, ref.name);
  if (secret.state === 'unknown') return undefined;
  if (secret.state === 'unreadable') {
    const why = secret.status === 403 ? '403 Forbidden: its Role needs get on this Secret (Helm value rbac.secretNames)' : secret.status > 0 ? `HTTP ${secret.status}` : 'no answer from the API server';
    return { ready: false, reason: 'JwksSecretUnreadable', problems: [{ path, message: `Secret "${ref.name}" in namespace "${namespace}" could not be read (${why})` }] };
  }
  const text = secret.state === 'present' ? secret.data[jwksSecretKey] : undefined;
  if (text === undefined) {
    return { ready: false, reason: 'JwksSecretNotFound', problems: [{ path, message: `Secret "${ref.name}" with key "${jwksSecretKey}" not found in namespace "${namespace}"` }] };
  }
  try {
    staticJwks(text);
  } catch (error) {
    return { ready: false, reason: 'JwksSecretInvalid', problems: [{ path, message: `Secret "${ref.name}": key "${jwksSecretKey}" is not a JWKS (${(error as Error).message})` }] };
  }
  return 'ok';
}
