/**
 * Where token-verifying keys come from: a JWKS fetched over HTTPS, or one held in a Secret. jose
 * does the key selection (`createLocalJWKSet`: kid, alg, kty, use) and the verification; this
 * module only decides when to fetch, because jose's own `createRemoteJWKSet` rejects every token
 * once its cache has expired and a refetch fails, and makes each request wait for that refetch:
 * both would turn an outage of the issuer's JWKS endpoint into an outage of uploads.
 *
 * The policy here: keys are fetched once and kept; after `cacheMaxAgeMs` they are refreshed in the
 * background while the old ones keep verifying; a token whose `kid` is unknown triggers at most
 * one refetch per `cooldownMs` (whatever that fetch's outcome), and a request waits for it at most
 * `timeoutMs`; a failed fetch keeps the last good keys. Only when no key was ever fetched does a
 * request fail for want of keys ({@link TokenKeysUnavailableError}), and then at once while a
 * recent attempt failed.
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';

/** Timings of a remote JWKS, in ms. */
export interface JwksFetchPolicy {
  /** Age after which keys are refreshed in the background (they keep verifying). Default 600 000. */
  readonly cacheMaxAgeMs: number;
  /** Shortest interval between two fetches triggered by unknown kids or stale keys. Default 30 000. */
  readonly cooldownMs: number;
  /** Longest a fetch may take, connection to last byte. Default 2 000. */
  readonly timeoutMs: number;
  /** While no key was ever fetched, a failed fetch is not retried for this long. Default 1 000. */
  readonly emptyRetryMs: number;
  /** Largest JWKS document accepted, in bytes. Default 262 144. */
  readonly maxBytes: number;
}

export const defaultJwksFetchPolicy: JwksFetchPolicy = Object.freeze({
  cacheMaxAgeMs: 600_000,
  cooldownMs: 30_000,
  timeoutMs: 2_000,
  emptyRetryMs: 1_000,
  maxBytes: 256 * 1024,
});

/** No key has ever been obtained for this app, so no token can be verified right now. */
export class TokenKeysUnavailableError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'TokenKeysUnavailableError';
  }
}

/** A source of verification keys, as jose's `jwtVerify` takes it. */
export interface TokenKeys {
  readonly getKey: JWTVerifyGetKey;
}

/** Keys parsed once from a JWKS document (a Secret's `jwks` key). Throws when it is not a JWKS. */
export function staticJwks(json: string): TokenKeys {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('the JWKS is not JSON');
  }
  const local = createLocalJWKSet(parsed as JSONWebKeySet);
  return { getKey: (header, token) => local(header, token) };
}

/** Options of {@link RemoteJwks}. */
export interface RemoteJwksOptions {
  readonly url: URL;
  /** The clock, in ms since the epoch; tests control it. */
  readonly now: () => number;
  readonly logger: Logger;
  readonly policy?: Partial<JwksFetchPolicy>;
}

type LocalKeys = ReturnType<typeof createLocalJWKSet>;

export class RemoteJwks implements TokenKeys {
  readonly #url: URL;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #policy: JwksFetchPolicy;
  #keys: LocalKeys | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #pending: Promise<void> | undefined;

  constructor(options: RemoteJwksOptions) {
    this.#url = options.url;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#policy = { ...defaultJwksFetchPolicy, ...options.policy };
  }

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = this.#now();
    if (!this.#keys) {
      if (now - this.#attemptedAt >= this.#policy.emptyRetryMs || this.#pending) await this.#refresh();
      if (!this.#keys) throw new TokenKeysUnavailableError(`no keys fetched from ${this.#url.href} yet`);
    } else if (now - this.#fetchedAt >= this.#policy.cacheMaxAgeMs && now - this.#attemptedAt >= this.#policy.cooldownMs) {
      void this.#refresh(); // stale keys keep verifying meanwhile
    }
    const keys = this.#keys;
    try {
      return await keys(header, token);
    } catch (error) {
      // An unknown kid may be a key the issuer just rotated in: look once per cooldown.
      if (!(error instanceof errors.JWKSNoMatchingKey) || now - this.#attemptedAt < this.#policy.cooldownMs) throw error;
      await this.#refresh();
      if (this.#keys === keys) throw error;
      return this.#keys(header, token);
    }
  };

  /** Fetches the JWKS once (concurrent callers share the fetch); never throws, never outlasts `timeoutMs`. */
  #refresh(): Promise<void> {
    this.#pending ??= this.#fetch().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #fetch(): Promise<void> {
    this.#attemptedAt = this.#now();
    try {
      const json = await fetchJwks(this.#url, this.#policy);
      this.#keys = createLocalJWKSet(json as JSONWebKeySet);
      this.#fetchedAt = this.#now();
    } catch (error) {
      this.#logger.warn(
        { err: error, jwksURL: this.#url.href, keptKeys: this.#keys !== undefined },
        this.#keys ? 'could not refresh a JWKS; the last keys fetched keep verifying' : 'could not fetch a JWKS; tokens cannot be verified yet',
      );
    }
  }
}

/** GET the JWKS with a deadline on the whole exchange, no redirects, and a size cap. */
async function fetchJwks(url: URL, policy: JwksFetchPolicy): Promise<unknown> {
  const signal = AbortSignal.timeout(policy.timeoutMs);
  const response = await fetch(url, {
    signal,
    redirect: 'manual',
    headers: { accept: 'application/jwk-set+json, application/json' },
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`the JWKS endpoint answered ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > policy.maxBytes) {
    await response.body?.cancel();
    throw new Error(`the JWKS is larger than ${policy.maxBytes} bytes`);
  }
  const text = await response.text(); // bounded in time by the signal
  if (Buffer.byteLength(text) > policy.maxBytes) throw new Error(`the JWKS is larger than ${policy.maxBytes} bytes`);
  return JSON.parse(text);
}
