/**
 * Who the owner of an upload is, per app (`spec.auth`): the gateway's `X-Owner-Id` in `header`
 * mode, a verified bearer token's claim in `jwt` mode (owner headers are then ignored). One key
 * source per app, kept while the app's `auth.jwt` stays the same (its cached keys survive config
 * reloads) and rebuilt when it changes or its JWKS Secret does.
 */
import { isDeepStrictEqual } from 'node:util';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { AppJwtAuth, DarkroomApp } from '../config/darkroom-app.js';
import { darkroomError } from '../core/errors.js';
import { readOwnerId } from '../http/owner-id.js';
import type { SecretCredentialsLookup } from '../storage/credentials.js';
import { readBearerToken } from './bearer-token.js';
import { RemoteJwks, staticJwks, type JwksFetchPolicy, type TokenKeys } from './jwks-keys.js';
import { verifyTokenOwner } from './jwt-owner.js';

/** The Secret key holding a JWKS (`spec.auth.jwt.jwksSecretRef`). */
export const jwksSecretKey = 'jwks';

/** Options of {@link OwnerAuthenticators}. */
export interface OwnerAuthenticatorsOptions {
  readonly logger: Logger;
  /** The clock tokens are checked against, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Secrets read by the Kubernetes source (for `jwksSecretRef`); absent outside a cluster. */
  readonly secrets?: SecretCredentialsLookup | undefined;
  /** Remote JWKS timings (tests shorten them). */
  readonly jwksPolicy?: Partial<JwksFetchPolicy>;
}

interface CachedKeys {
  readonly jwt: AppJwtAuth;
  readonly namespace: string | undefined;
  readonly secretVersion: string | undefined;
  readonly keys: TokenKeys;
}

export class OwnerAuthenticators {
  readonly #options: OwnerAuthenticatorsOptions;
  readonly #now: () => number;
  readonly #keys = new Map<string, CachedKeys>();

  constructor(options: OwnerAuthenticatorsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The owner of a request to `app`. Apps that are unknown or invalid (undefined here) take the
   * default mode, the gateway's header, so that probing them is rate-limited per owner as before.
   */
  owner(app: DarkroomApp | undefined, headers: IncomingHttpHeaders): string | Promise<string> {
    const jwt = app?.spec.auth.jwt;
    if (!app || app.spec.auth.mode !== 'jwt' || !jwt) return readOwnerId(headers);
    const token = readBearerToken(headers);
    return verifyTokenOwner(token, jwt, this.#keysFor(app, jwt), this.#now());
  }

  /** Drops the keys of apps no longer served. */
  retain(apps: ReadonlyMap<string, DarkroomApp>): void {
    for (const name of this.#keys.keys()) if (apps.get(name)?.spec.auth.mode !== 'jwt') this.#keys.delete(name);
  }

  #keysFor(app: DarkroomApp, jwt: AppJwtAuth): TokenKeys {
    const name = app.metadata.name;
    const namespace = app.metadata.namespace;
    const ref = jwt.jwksSecretRef;
    const secretVersion = ref && namespace !== undefined ? this.#options.secrets?.version(namespace, ref.name) : undefined;
    const cached = this.#keys.get(name);
    if (cached && cached.namespace === namespace && cached.secretVersion === secretVersion && (cached.jwt === jwt || isDeepStrictEqual(cached.jwt, jwt))) {
      return cached.keys;
    }
    const keys = ref ? this.#secretKeys(ref.name, namespace) : new RemoteJwks({ url: new URL(jwt.jwksURL!), now: this.#now, logger: this.#options.logger, policy: this.#options.jwksPolicy });
    this.#keys.set(name, { jwt, namespace, secretVersion, keys });
    return keys;
  }

  #secretKeys(secret: string, namespace: string | undefined): TokenKeys {
    const data = namespace === undefined ? undefined : this.#options.secrets?.get(namespace, secret);
    const text = data?.[jwksSecretKey];
    if (text === undefined) {
      throw darkroomError('APP_CONFIG_INVALID', {
        detail: `the JWKS Secret "${secret}" named by auth.jwt.jwksSecretRef (key "${jwksSecretKey}") does not exist in namespace "${namespace ?? '(none)'}", or cannot be read`,
      });
    }
    try {
      return staticJwks(text);
    } catch (error) {
      throw darkroomError('APP_CONFIG_INVALID', { detail: `the JWKS Secret "${secret}" does not hold a JWKS: ${(error as Error).message}`, cause: error });
    }
  }
}
