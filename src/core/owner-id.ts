/**
 * What an owner id may be, wherever it comes from (a gateway's `X-Owner-Id`, a verified token's
 * claim): visible ASCII, 1 to 128 characters, because it ends up in rate-limit keys and logs.
 */
const ownerIdPattern = /^[\x21-\x7e]{1,128}$/;

export function isValidOwnerId(value: string): boolean {
  return ownerIdPattern.test(value);
}
