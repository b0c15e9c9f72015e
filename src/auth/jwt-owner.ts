/**
 * Verifies one bearer token for one app and returns its owner: signature (jose, against the app's
 * keys, with the app's algorithms only, so neither `none` nor an HMAC "secret" made of a public
 * key can pass), `iss`, `aud`, `exp` (required) and `nbf`/`iat` within the clock tolerance, and an
 * owner claim that is a string of 1 to 128 visible ASCII characters like the gateway's header.
 */
import { errors, jwtVerify } from 'jose';
import type { AppJwtAuth } from '../config/darkroom-app.js';
import { darkroomError } from '../core/errors.js';
import { isValidOwnerId } from '../core/owner-id.js';
import { invalidToken } from './bearer-token.js';
import { TokenKeysUnavailableError, type TokenKeys } from './jwks-keys.js';

/** The token's owner, or throws INVALID_TOKEN / TOKEN_KEYS_UNAVAILABLE. `nowMs` is the verifier's clock. */
export async function verifyTokenOwner(token: string, config: AppJwtAuth, keys: TokenKeys, nowMs: number): Promise<string> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keys.getKey, {
      issuer: config.issuer,
      audience: config.audiences,
      algorithms: config.algorithms,
      clockTolerance: config.clockToleranceSeconds,
      currentDate: new Date(nowMs),
      // A token that never expires would be an owner id for ever; refuse it.
      requiredClaims: ['exp'],
    }));
  } catch (error) {
    if (error instanceof TokenKeysUnavailableError) {
      throw darkroomError('TOKEN_KEYS_UNAVAILABLE', { detail: error.message, cause: error, retryAfterSeconds: 1 });
    }
    if (error instanceof errors.JOSEError) throw invalidToken(error.code, error);
    throw error;
  }
  const owner = payload[config.ownerClaim];
  if (typeof owner !== 'string' || !isValidOwnerId(owner)) {
    throw invalidToken(`claim "${config.ownerClaim}" is not a string of 1 to 128 visible ASCII characters`);
  }
  return owner;
}
