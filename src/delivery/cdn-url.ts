/**
 * Where an object lives on an app's CDN. The host comes only from the app's `cdn.url`; the path is
 * that URL's path followed by the object key with every segment percent-encoded, so a key can
 * never change the host or climb out of the base path (OWASP SSRF Prevention: fixed base plus a
 * validated, encoded key). Pure.
 */

/** An undici request target: the origin to connect to and the path to ask for. */
export interface CdnTarget {
  /** `scheme://host[:port]` of the CDN, from config. */
  readonly origin: string;
  /** Absolute, percent-encoded path. */
  readonly path: string;
}

/** A parsed CDN base URL, for {@link cdnTargetUnder}. */
export interface CdnBase {
  readonly origin: string;
  /** The base URL's path without trailing slashes. */
  readonly path: string;
}

/** Parses a `cdn.url` once, so that each read does not parse it again. */
export function parseCdnBase(cdnUrl: string): CdnBase {
  const base = new URL(cdnUrl);
  return { origin: base.origin, path: base.pathname.replace(/\/+$/, '') };
}

/**
 * The CDN location of `objectKey` (prefix included) under the base URL `cdnUrl`. Query and fragment
 * of the base are ignored. Throws a TypeError for a key with `.` or `..` segments.
 */
export function cdnTarget(cdnUrl: string, objectKey: string): CdnTarget {
  return cdnTargetUnder(parseCdnBase(cdnUrl), objectKey);
}

/** {@link cdnTarget} with the base already parsed. */
export function cdnTargetUnder(base: CdnBase, objectKey: string): CdnTarget {
  const encoded = objectKey
    .split('/')
    .map((segment) => {
      // URL parsers resolve "." and ".." even percent-encoded (WHATWG URL: "%2e%2e" is ".."), so
      // they are refused outright. The read path only passes well-formed keys; this holds anyway.
      if (segment === '.' || segment === '..') throw new TypeError('an object key must not contain "." or ".." segments');
      return encodeURIComponent(segment);
    })
    .join('/');
  return { origin: base.origin, path: `${base.path}/${encoded}` };
}
