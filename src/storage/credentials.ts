/**
 * Storage credentials from a Kubernetes Secret (`spec.storage.credentialsSecretRef`), behind a
 * small synchronous lookup so the storage builders stay free of Kubernetes. Secret layouts:
 *
 * - `s3`: keys `accessKeyId` and `secretAccessKey`, optionally `sessionToken`.
 * - `gcs`: key `serviceAccountKey` holding a service-account JSON key (`client_email`,
 *   `private_key`, optionally `project_id`).
 *
 * Without a lookup (no Kubernetes source) or without the Secret, an app that names one is refused
 * with APP_CONFIG_INVALID, never run on the pod's ambient identity instead.
 */
import type { DarkroomAppSpec } from '../config/darkroom-app.js';
import { darkroomError } from '../core/errors.js';

/** A Secret's data, decoded to text. */
export type SecretData = Readonly<Record<string, string>>;

/** What the storage builders may ask of the Secrets darkroom has read. Synchronous: a cache. */
export interface SecretCredentialsLookup {
  /** The Secret's data, or undefined when it does not exist or has not been read yet. */
  get(namespace: string, name: string): SecretData | undefined;
  /** An opaque version (the resourceVersion) that changes whenever the Secret does. */
  version(namespace: string, name: string): string | undefined;
}

/** Static S3 credentials. */
export interface S3SecretCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** The parts of a GCS service-account key the client needs. */
export interface GcsSecretCredentials {
  readonly client_email: string;
  readonly private_key: string;
  readonly project_id?: string;
}

/** Keys each provider needs in the Secret. */
export const requiredSecretKeys: Readonly<Record<DarkroomAppSpec['storage']['provider'], readonly string[]>> = Object.freeze({
  s3: ['accessKeyId', 'secretAccessKey'],
  gcs: ['serviceAccountKey'],
});

/**
 * The data of the app's credentials Secret. Throws APP_CONFIG_INVALID when there is no lookup or
 * the Secret is missing. Only call it when `storage.credentialsSecretRef` is set.
 */
export function secretDataFor(
  storage: DarkroomAppSpec['storage'],
  namespace: string | undefined,
  lookup: SecretCredentialsLookup | undefined,
): SecretData {
  const name = storage.credentialsSecretRef?.name;
  if (name === undefined) throw new Error('secretDataFor called for an app without credentialsSecretRef');
  if (!lookup || namespace === undefined) {
    throw darkroomError('APP_CONFIG_INVALID', {
      detail: `storage.credentialsSecretRef "${name}" needs the Kubernetes config source to read the Secret; outside a cluster, use the SDK's ambient credentials instead`,
    });
  }
  const data = lookup.get(namespace, name);
  if (!data) {
    throw darkroomError('APP_CONFIG_INVALID', {
      detail: `the credentials Secret "${name}" named by storage.credentialsSecretRef does not exist in namespace "${namespace}" (or could not be read)`,
    });
  }
  return data;
}

/** Problems with a Secret's layout for one provider; empty when it is usable. Pure. */
export function secretProblems(provider: DarkroomAppSpec['storage']['provider'], data: SecretData): string[] {
  const missing = requiredSecretKeys[provider].filter((key) => !data[key]);
  if (missing.length > 0) return [`missing key${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`];
  if (provider === 'gcs') {
    const parsed = parseServiceAccountKey(data.serviceAccountKey!);
    if (typeof parsed === 'string') return [parsed];
  }
  return [];
}

/** S3 credentials from Secret data; throws APP_CONFIG_INVALID naming the missing keys. */
export function s3CredentialsFromSecret(data: SecretData): S3SecretCredentials {
  const problems = secretProblems('s3', data);
  if (problems.length > 0) throw darkroomError('APP_CONFIG_INVALID', { detail: `the credentials Secret is unusable: ${problems.join('; ')}.` });
  return {
    accessKeyId: data.accessKeyId!,
    secretAccessKey: data.secretAccessKey!,
    ...(data.sessionToken ? { sessionToken: data.sessionToken } : {}),
  };
}

/** GCS credentials from Secret data (`serviceAccountKey` JSON); throws APP_CONFIG_INVALID. */
export function gcsCredentialsFromSecret(data: SecretData): GcsSecretCredentials {
  const parsed = data.serviceAccountKey ? parseServiceAccountKey(data.serviceAccountKey) : 'missing key serviceAccountKey';
  if (typeof parsed === 'string') throw darkroomError('APP_CONFIG_INVALID', { detail: `the credentials Secret is unusable: ${parsed}.` });
  return parsed;
}

/** The key's credentials, or what is wrong with it (never quoting it). */
function parseServiceAccountKey(text: string): GcsSecretCredentials | string {
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch {
    return 'serviceAccountKey is not JSON';
  }
  const { client_email, private_key, project_id } = (key ?? {}) as Record<string, unknown>;
  if (typeof client_email !== 'string' || typeof private_key !== 'string') return 'serviceAccountKey lacks client_email or private_key';
  return { client_email, private_key, ...(typeof project_id === 'string' ? { project_id } : {}) };
}
