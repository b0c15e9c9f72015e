/**
 * Secrets held in a map, for unit tests of what darkroom does with a Secret's contents: the
 * storage builders' lookup (`get`, `version`) and the Secret reader's view (`state`).
 */
import type { SecretCredentialsLookup } from '../../src/storage/credentials.js';

export class MapSecretLookup implements SecretCredentialsLookup {
  /** Keyed `namespace/name`. */
  readonly secrets = new Map<string, { data: Record<string, string>; version: string }>();
  get(namespace: string, name: string) {
    return this.secrets.get(`${namespace}/${name}`)?.data;
  }
  version(namespace: string, name: string) {
    return this.secrets.get(`${namespace}/${name}`)?.version;
  }
  state(namespace: string, name: string) {
    const secret = this.secrets.get(`${namespace}/${name}`);
    return secret ? { state: 'present' as const, data: secret.data, version: secret.version } : { state: 'missing' as const };
  }
}
