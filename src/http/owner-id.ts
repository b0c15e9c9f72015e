/**
 * The uploader's identity, asserted by the authenticating gateway in front of darkroom. nginx and
 * other proxies drop header names with underscores by default, so `X_Owner_Id` is accepted too.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { darkroomError } from '../core/errors.js';
import { isValidOwnerId } from '../core/owner-id.js';

/** Reads and checks the owner id; throws MISSING_OWNER_ID or INVALID_OWNER_ID. */
export function readOwnerId(headers: IncomingHttpHeaders): string {
  const dashed = headers['x-owner-id'];
  const underscored = headers['x_owner_id'];
  const raw = dashed ?? underscored;
  if (raw === undefined) throw darkroomError('MISSING_OWNER_ID');
  // Two spellings naming two identities: believing either could let a client spoof one.
  if (dashed !== undefined && underscored !== undefined && String(dashed) !== String(underscored)) {
    throw darkroomError('INVALID_OWNER_ID', { detail: 'X-Owner-Id and X_Owner_Id name different owners' });
  }
  // Node joins repeated headers with ", "; two identities for one request is not well-formed.
  const value = Array.isArray(raw) ? raw.join(', ') : raw.trim();
  if (value === '') throw darkroomError('MISSING_OWNER_ID');
  if (!isValidOwnerId(value)) throw darkroomError('INVALID_OWNER_ID');
  return value;
}
