/**
 * Whether a bucket's CORS rules let browsers at an app's `allowedOrigins` send the presigned PUT
 * darkroom hands out. Pure: the rules are read by the storage providers, the verdict becomes the
 * `CORSReady` condition.
 *
 * A browser's preflight for the PUT asks for method `PUT` and names every non-safelisted header
 * the page sets: `Content-Type` (an image type is not CORS-safelisted) and every other header
 * darkroom signs (`x-goog-content-length-range`, `If-None-Match`, ...). The bucket answers the
 * preflight from the first rule that matches the origin, the method and all of those headers
 * (S3 "How does Amazon S3 evaluate the CORS configuration on a bucket?"; GCS "Cross-origin
 * resource sharing"), so the requirement holds when, for every origin, one rule matches all three.
 */

/** One CORS rule, the same for S3 (`CORSRule`) and GCS (`cors[]`). */
export interface BucketCorsRule {
  /** `AllowedOrigin` / `origin`; may hold `*` wildcards. */
  readonly origins: readonly string[];
  /** `AllowedMethod` / `method`. */
  readonly methods: readonly string[];
  /** `AllowedHeader` (S3, `*` wildcards) / `responseHeader` (GCS). */
  readonly headers: readonly string[];
}

/** What reading a bucket's CORS configuration found. */
export type BucketCorsReading =
  | { readonly state: 'rules'; readonly rules: readonly BucketCorsRule[] }
  /** No CORS configuration at all (S3 `NoSuchCORSConfiguration`, GCS no `cors`). */
  | { readonly state: 'none' }
  /** darkroom's identity may not read it (S3 `AccessDenied`, GCS 403). */
  | { readonly state: 'forbidden'; readonly detail: string }
  /** Anything else: unreachable, throttled, timed out. */
  | { readonly state: 'unavailable'; readonly detail: string };

/** What browsers at the app's origins will ask the bucket for. */
export interface CorsRequirement {
  readonly origins: readonly string[];
  readonly method: 'PUT';
  /** Header names the page sends with the PUT (the signed ones a browser lets a page set). */
  readonly headers: readonly string[];
}

/** The `CORSReady` condition's content. */
export interface CorsVerdict {
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: 'CORSRulesMatch' | 'NoCORSConfiguration' | 'CORSRulesIncomplete' | 'CORSCheckForbidden' | 'CORSCheckFailed';
  readonly message: string;
}

/** The condition type darkroom reports. */
export const corsReadyConditionType = 'CORSReady';

/**
 * Headers a page cannot set (Fetch "forbidden request-header"): the browser sends them itself and
 * never names them in a preflight, so a bucket rule need not allow them.
 */
const browserOwnedHeaders = new Set(['content-length', 'host', 'connection', 'expect', 'date']);

/** The headers of a presigned PUT that a browser's preflight names, lower-cased and sorted. Pure. */
export function preflightHeaders(signedHeaders: Readonly<Record<string, string>>): string[] {
  return [...new Set(Object.keys(signedHeaders).map((name) => name.toLowerCase()))].filter((name) => !browserOwnedHeaders.has(name)).sort();
}

/** S3's wildcard match: `*` stands for any run of characters (one per value, in practice). */
function wildcardMatch(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const p = caseInsensitive ? pattern.toLowerCase() : pattern;
  const v = caseInsensitive ? value.toLowerCase() : value;
  if (!p.includes('*')) return p === v;
  const expression = p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${expression}$`).test(v);
}

const allowsOrigin = (rule: BucketCorsRule, origin: string) => rule.origins.some((pattern) => wildcardMatch(pattern, origin, false));
const allowsMethod = (rule: BucketCorsRule, method: string) => rule.methods.some((allowed) => allowed.toUpperCase() === method);
const missingHeaders = (rule: BucketCorsRule, headers: readonly string[]) =>
  headers.filter((header) => !rule.headers.some((pattern) => wildcardMatch(pattern, header, true)));

/** What keeps one origin's upload from passing the bucket's preflight; undefined when nothing. */
function originProblem(rules: readonly BucketCorsRule[], origin: string, requirement: CorsRequirement): string | undefined {
  const forOrigin = rules.filter((rule) => allowsOrigin(rule, origin));
  if (forOrigin.length === 0) return `origin ${origin} is not allowed by any rule`;
  const forMethod = forOrigin.filter((rule) => allowsMethod(rule, requirement.method));
  if (forMethod.length === 0) return `no rule allows method ${requirement.method} from ${origin}`;
  // The closest rule names the fewest missing headers: that is the one to fix.
  const missing = forMethod.map((rule) => missingHeaders(rule, requirement.headers)).sort((a, b) => a.length - b.length)[0] ?? [];
  if (missing.length === 0) return undefined;
  return `the rule allowing ${requirement.method} from ${origin} does not allow header${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
}

/** The verdict on one reading. Pure. */
export function corsVerdict(reading: BucketCorsReading, requirement: CorsRequirement): CorsVerdict {
  const needs = `${requirement.method} with headers ${requirement.headers.join(', ') || '(none)'}`;
  switch (reading.state) {
    case 'forbidden':
      return {
        status: 'Unknown',
        reason: 'CORSCheckForbidden',
        message: `darkroom may not read the bucket's CORS configuration (${reading.detail}); grant s3:GetBucketCORS (S3) or storage.buckets.get (GCS), or check the rules by hand: browsers at ${requirement.origins.join(', ')} need ${needs}.`,
      };
    case 'unavailable':
      return { status: 'Unknown', reason: 'CORSCheckFailed', message: `The bucket's CORS configuration could not be read (${reading.detail}); darkroom checks again later.` };
    case 'none':
      return {
        status: 'False',
        reason: 'NoCORSConfiguration',
        message: `The bucket has no CORS configuration, so browsers at ${requirement.origins.join(', ')} cannot upload: add a rule allowing those origins ${needs}.`,
      };
    case 'rules': {
      const problems = requirement.origins.map((origin) => originProblem(reading.rules, origin, requirement)).filter((problem) => problem !== undefined);
      if (problems.length === 0) {
        return { status: 'True', reason: 'CORSRulesMatch', message: `The bucket's CORS rules allow ${needs} from ${requirement.origins.join(', ')}.` };
      }
      return { status: 'False', reason: 'CORSRulesIncomplete', message: `The bucket's CORS rules block browser uploads: ${problems.join('; ')}. Uploads need ${needs}.` };
    }
  }
}
