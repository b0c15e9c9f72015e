/**
 * The `DarkroomApp` custom resource (group `darkroom.dev`, version `v1alpha1`) as one zod schema:
 * the single source of the TypeScript types. The same documents are read from a YAML file outside
 * a cluster and from the Kubernetes API inside one. Bounds and defaults here mirror the CRD's
 * OpenAPI schema in `crds/darkroomapp.yaml`.
 */
import { z } from 'zod';
import { knownExtensions } from '../core/image-types.js';

const darkroomApiVersion = 'darkroom.dev/v1alpha1';
const darkroomKind = 'DarkroomApp';

/** Default upload size limit: 10 MiB. */
const defaultMaxBytes = 10 * 1024 * 1024;
/** Hard ceiling for `upload.maxBytes`: 5 GiB, S3's limit for a single PUT. */
const maxMaxBytes = 5 * 1024 * 1024 * 1024;
/** Default presigned URL lifetime in seconds (15 minutes). */
const defaultUrlTTLSeconds = 900;
/** Longest presigned URL lifetime: 7 days, SigV4's and GCS V4's ceiling. */
const maxUrlTTLSeconds = 604_800;

// An app name becomes a URL path segment, so it follows Kubernetes' DNS-1123 label rules.
export const appNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label: lower-case a-z, 0-9 and "-"');

const httpUrlSchema = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password;
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials');

const secretRefSchema = z
  .object({
    /** Name of a Secret in the app's namespace holding the storage credentials. */
    name: z.string().min(1).max(253),
  })
  .strict();

/** A key prefix in a bucket: no leading slash, no `.` or `..` segments, URL-safe characters. */
const prefixSchema = z
  .string()
  .max(256)
  .regex(/^(?!\/)[A-Za-z0-9!_.*'()/-]*$/, 'may hold only A-Z a-z 0-9 ! _ . * \' ( ) / -')
  .refine((value) => !value.split('/').some((part) => part === '..' || part === '.'), 'must not contain . or .. segments');

const storageSchema = z
  .object({
    /** Which storage service holds the objects. */
    provider: z.enum(['s3', 'gcs']),
    /** Bucket name (S3 / GCS naming rules). */
    bucket: z
      .string()
      .min(3)
      .max(222)
      .regex(/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/, 'must be a valid bucket name'),
    /** Region of the bucket (S3). Default: the SDK's ambient region, else us-east-1. */
    region: z.string().min(1).max(64).regex(/^[a-z0-9-]+$/).optional(),
    /** Endpoint of an S3-compatible store or a GCS emulator; absent means the provider's own. */
    endpoint: httpUrlSchema.optional(),
    /** Path-style addressing (bucket in the path). Default: true when an endpoint is set. */
    forcePathStyle: z.boolean().optional(),
    /** Prepended to every key, e.g. `uploads/`. No leading slash and no `..`. */
    prefix: prefixSchema.default(''),
    /** Secret with credentials; absent means the pod's ambient identity (IRSA, workload identity). */
    credentialsSecretRef: secretRefSchema.optional(),
  })
  .strict()
  // Cross-field rule, mirrored by a CEL rule in the CRD: path-style addressing is an S3 notion.
  .refine((storage) => storage.provider === 's3' || storage.forcePathStyle === undefined, {
    message: 'forcePathStyle applies to the s3 provider only',
    path: ['forcePathStyle'],
  });

/** Default CDN time to response headers, in ms (`cdn.timeoutMs`). */
const defaultCdnTimeoutMs = 1_000;

const cdnBreakerSchema = z
  .object({
    /**
     * Failure share (timeouts, connection errors, 5xx) in the rolling window above which the
     * breaker opens, in percent. Default 50; 1 to 99 (opossum compares with a strict `>`).
     */
    errorThresholdPercentage: z.number().int().min(1).max(99).default(50),
    /**
     * CDN requests the rolling window must hold before the breaker may open, so that one early
     * failure in a quiet window does not open it. Default 20; 1 to 10000.
     */
    volumeThreshold: z.number().int().min(1).max(10_000).default(20),
    /** Seconds an open breaker waits before letting one trial request through. Default 10; 1 to 3600. */
    resetTimeoutSeconds: z.number().int().min(1).max(3_600).default(10),
    /** Length of the rolling statistics window in seconds (10 buckets). Default 10; 1 to 3600. */
    rollingWindowSeconds: z.number().int().min(1).max(3_600).default(10),
  })
  .strict();

const cdnSchema = z
  .object({
    /**
     * CDN base URL in front of the bucket (e.g. a CloudFront distribution); the object at
     * `{prefix}{key}` is fetched from `{url}/{prefix}{key}`, each path segment percent-encoded.
     */
    url: httpUrlSchema,
    /** Time the CDN has to send response headers, in ms; the request is cancelled after it. Default 1000; 50 to 30000. */
    timeoutMs: z.number().int().min(50).max(30_000).default(defaultCdnTimeoutMs),
    /** The CDN circuit breaker (one per app and CDN URL). */
    breaker: cdnBreakerSchema.default(() => cdnBreakerSchema.parse({})),
  })
  .strict();

const extensionSchema = z
  .string()
  .transform((value) => value.toLowerCase().replace(/^\./, ''))
  .pipe(z.enum(knownExtensions as [string, ...string[]]));

/**
 * A browser origin exactly as browsers send it in `Origin`: `scheme://host[:port]`, lower case,
 * no path, no default port (`https://app.example.com`, `http://localhost:3000`). Mirrored by the
 * CRD's pattern and CEL rule for `upload.allowedOrigins`.
 */
export const originPattern = /^https?:\/\/([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(:[1-9][0-9]{0,4})?$/;
/** Most origins one app may list: a CORS rule is not the place for a directory of sites. */
const maxAllowedOrigins = 32;

const originSchema = z
  .string()
  .max(300)
  .regex(originPattern, 'must be an origin as a browser sends it: http(s)://host[:port], lower case, no path or trailing slash')
  .refine((origin) => !/^https:\/\/.*:443$|^http:\/\/.*:80$/.test(origin), 'must not name the default port (browsers omit it)');

const uploadSchema = z
  .object({
    /** Extensions (without dot) this app accepts; a subset of the image types darkroom knows. */
    allowedExtensions: z.array(extensionSchema).min(1).max(knownExtensions.length).default(['jpg', 'jpeg', 'png', 'gif', 'webp']),
    /** Largest upload in bytes. Default 10 MiB; at most 5 GiB. */
    maxBytes: z.number().int().min(1).max(maxMaxBytes).default(defaultMaxBytes),
    /** Lifetime of a presigned upload URL in seconds. Default 900; 1 to 604800. */
    urlTTLSeconds: z.number().int().min(1).max(maxUrlTTLSeconds).default(defaultUrlTTLSeconds),
    /**
     * S3 apps: whether a presign request must declare `size` (S3 enforces `maxBytes` by signing
     * that exact Content-Length). Default true. `false` issues a URL that binds no length for a
     * size-less request, and the read path refuses (and counts) objects over `maxBytes`. GCS apps
     * never need `size` (the signed length range enforces the limit).
     */
    requireSize: z.boolean().default(true),
    /**
     * Browser origins that upload for this app from their own pages: the presign endpoint answers
     * CORS (preflight included) for exactly these, and darkroom checks the bucket's CORS rules
     * against them (`CORSReady`). Absent or empty: no cross-origin upload. At most 32.
     */
    allowedOrigins: z.array(originSchema).max(maxAllowedOrigins).optional(),
  })
  .strict();

const rateLimitSchema = z
  .object({
    /** Presigned URLs one owner may obtain per window. Default 60. */
    requests: z.number().int().min(1).max(1_000_000).default(60),
    /** Window length in seconds. Default 60. */
    windowSeconds: z.number().int().min(1).max(86_400).default(60),
  })
  .strict();

/** JWS algorithms a token may be signed with: asymmetric only, so a public JWK can never be an HMAC secret. */
export const jwtAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
/** Default `auth.jwt.algorithms`. */
const defaultJwtAlgorithms: (typeof jwtAlgorithms)[number][] = ['RS256', 'ES256', 'EdDSA'];

/** Loopback hosts, the only ones a JWKS may be fetched from over plain HTTP (tests, sidecars). */
const loopbackHostPattern = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/;

const jwksUrlSchema = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      if (url.username || url.password) return false;
      return url.protocol === 'https:' || (url.protocol === 'http:' && loopbackHostPattern.test(url.hostname));
    } catch {
      return false;
    }
  }, 'must be an https URL without credentials (http only for a loopback host)');

// A claim name as it appears in a JWT payload; bounded so the CRD's CEL cost stays small.
const claimNameSchema = z.string().min(1).max(256);

const jwtSchema = z
  .object({
    /** The JWKS endpoint of the token issuer (https; http only for loopback). */
    jwksURL: jwksUrlSchema.optional(),
    /** A Secret in the app's namespace whose key `jwks` holds a JWKS (JSON), instead of `jwksURL`. */
    jwksSecretRef: secretRefSchema.optional(),
    /** The `iss` every token must carry. */
    issuer: z.string().min(1).max(2048),
    /** Accepted `aud` values; a token must name at least one. Give each app its own. */
    audiences: z.array(z.string().min(1).max(2048)).min(1).max(16),
    /** Algorithms accepted. Default RS256, ES256, EdDSA; never `none`, never HMAC. */
    algorithms: z.array(z.enum(jwtAlgorithms)).min(1).max(jwtAlgorithms.length).default(() => [...defaultJwtAlgorithms]),
    /** The claim whose value is the owner (the rate-limit key). Default `sub`. */
    ownerClaim: claimNameSchema.default('sub'),
    /** Clock skew allowed on `exp` and `nbf`, in seconds. Default 30; 0 to 300. */
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
  })
  .strict()
  // Cross-field rule, mirrored by a CEL rule in the CRD: the keys come from exactly one place.
  .refine((jwt) => (jwt.jwksURL === undefined) !== (jwt.jwksSecretRef === undefined), {
    message: 'exactly one of jwksURL and jwksSecretRef must be set',
    path: ['jwksURL'],
  });

const authSchema = z
  .object({
    /**
     * Who the owner is: `header` (default) trusts `X-Owner-Id` set by an authenticating gateway;
     * `jwt` verifies `Authorization: Bearer <JWT>` and takes the owner from a claim.
     */
    mode: z.enum(['header', 'jwt']).default('header'),
    /** Token verification; required with `mode: jwt`, forbidden otherwise. */
    jwt: jwtSchema.optional(),
  })
  .strict()
  // Mirrored by a CEL rule in the CRD.
  .refine((auth) => (auth.mode === 'jwt') === (auth.jwt !== undefined), {
    message: 'jwt is required with mode jwt and only allowed with it',
    path: ['jwt'],
  });

/** `spec.auth`, defaults applied. */
export type AppAuth = z.infer<typeof authSchema>;
/** `spec.auth.jwt`, defaults applied. */
export type AppJwtAuth = z.infer<typeof jwtSchema>;

/** Narrowest and widest variant width in pixels (`variants.widths`, `presets[].width`). */
export const minVariantWidth = 16;
export const maxVariantWidth = 4096;
/** Most widths, presets and qualities an app may list: each one is a variant a URL can ask for. */
const maxVariantChoices = 16;
/** Default and ceiling of `variants.maxInputPixels`: 40 MP, and 100 MP (a large camera sensor). */
const defaultMaxInputPixels = 40_000_000;
const maxMaxInputPixels = 100_000_000;

const variantWidthSchema = z.number().int().min(minVariantWidth).max(maxVariantWidth);
const variantQualitySchema = z.number().int().min(1).max(100);

const presetSchema = z
  .object({
    /** The name in `?preset=`: a DNS-1123 label, at most 32 characters. */
    name: z
      .string()
      .min(1)
      .max(32)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lower-case a-z, 0-9 and "-"'),
    /** Width of the box in pixels, 16 to 4096. */
    width: variantWidthSchema,
    /** Height of the box in pixels, 16 to 4096; absent keeps the aspect ratio (then `fit` has no effect). */
    height: variantWidthSchema.optional(),
    /** How the image meets a box of width x height: `cover` (crop to fill), `contain` (letterbox), `inside` (fit within). Default inside. */
    fit: z.enum(['cover', 'contain', 'inside']).default('inside'),
    /** Output format; `auto` picks AVIF, else WebP, else the source format by the `Accept` header. Default auto. */
    format: z.enum(['auto', 'webp', 'avif', 'jpeg', 'png']).default('auto'),
    /** Encoder quality 1 to 100; absent means the format's default. */
    quality: variantQualitySchema.optional(),
  })
  .strict();

const variantsSchema = z
  .object({
    /** Widths a URL may ask for with `?w=`, in pixels (16 to 4096, at most 16). Default none. */
    widths: z.array(variantWidthSchema).max(maxVariantChoices).default([]),
    /** Named variants for `?preset=` (at most 16, names unique). Default none. */
    presets: z.array(presetSchema).max(maxVariantChoices).default([]),
    /** Qualities a URL may ask for with `?q=` (1 to 100, at most 16). Default none: `q` is refused. */
    qualities: z.array(variantQualitySchema).max(maxVariantChoices).default([]),
    /** Where variant objects are stored in the bucket. Default `{storage.prefix}variants/`. */
    prefix: prefixSchema.optional(),
    /** Largest source image (width x height, all frames) that is transformed. Default 40000000; 1 to 100000000. */
    maxInputPixels: z.number().int().min(1).max(maxMaxInputPixels).default(defaultMaxInputPixels),
  })
  .strict()
  // Mirrored by CEL rules in the CRD: a repeated width or quality is a typo, not a second variant.
  .refine((variants) => new Set(variants.widths).size === variants.widths.length, { message: 'widths must not repeat', path: ['widths'] })
  .refine((variants) => new Set(variants.qualities).size === variants.qualities.length, { message: 'qualities must not repeat', path: ['qualities'] })
  // Mirrored by the CRD's x-kubernetes-list-type: map on presets (name is the key).
  .refine((variants) => new Set(variants.presets.map((preset) => preset.name)).size === variants.presets.length, {
    message: 'preset names must be unique',
    path: ['presets'],
  });

/** The `spec` of a `DarkroomApp`. */
export const darkroomAppSpecSchema = z
  .object({
    /** Whether presigned upload URLs may be issued. Default false: an app is closed until opened. */
    allowPublicUpload: z.boolean().default(false),
    storage: storageSchema,
    cdn: cdnSchema.optional(),
    upload: uploadSchema.default(() => uploadSchema.parse({})),
    rateLimit: rateLimitSchema.default(() => rateLimitSchema.parse({})),
    /** Who the owner of an upload is (the rate-limit key): a gateway's header, or a verified JWT. */
    auth: authSchema.default(() => authSchema.parse({})),
    /**
     * Base URL that public image URLs are built on, e.g. `https://img.example.com`. Default: the
     * process setting `DARKROOM_PUBLIC_BASE_URL`; an app with neither cannot issue upload URLs.
     */
    publicBaseURL: httpUrlSchema.transform((value) => value.replace(/\/+$/, '')).optional(),
    /** Resized, re-encoded variants at the public URL (`?w=`, `?preset=`); absent means originals only. */
    variants: variantsSchema.optional(),
  })
  .strict();

const metadataSchema = z
  .object({
    name: appNameSchema,
    namespace: z.string().max(63).optional(),
    generation: z.number().int().optional(),
    resourceVersion: z.string().optional(),
    uid: z.string().optional(),
    /** Set by the API server; orders two namespaces' claims on one app name (the oldest wins). */
    creationTimestamp: z.string().optional(),
  })
  // Kubernetes adds labels, annotations, managedFields and more: keep them out of our way.
  .passthrough();

/** A whole `DarkroomApp` document. Unknown spec fields are errors (typos must not pass silently). */
export const darkroomAppSchema = z.object({
  apiVersion: z.literal(darkroomApiVersion),
  kind: z.literal(darkroomKind),
  metadata: metadataSchema,
  spec: darkroomAppSpecSchema,
  status: z.unknown().optional(),
});

export type DarkroomAppSpec = z.infer<typeof darkroomAppSpecSchema>;
/** `spec.variants`, defaults applied. */
export type VariantsSpec = z.infer<typeof variantsSchema>;
/** One entry of `spec.variants.presets`. */
export type VariantPreset = z.infer<typeof presetSchema>;
export type DarkroomApp = z.infer<typeof darkroomAppSchema>;

/** One problem in a document: the field path (`spec.upload.maxBytes`) and what is wrong. */
export interface SpecProblem {
  readonly path: string;
  readonly message: string;
}

/** The result of checking one document. */
export type AppParseResult =
  | { ok: true; app: DarkroomApp }
  | { ok: false; name: string | undefined; problems: SpecProblem[] };

/** Validates one document; never throws. The name is reported even when the rest is invalid. */
export function parseDarkroomApp(document: unknown): AppParseResult {
  const result = darkroomAppSchema.safeParse(document);
  if (result.success) return { ok: true, app: result.data };
  return {
    ok: false,
    name: nameOf(document),
    problems: result.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.') || '(document)',
      message: issue.message,
    })),
  };
}

function nameOf(document: unknown): string | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const metadata = (document as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const name = (metadata as { name?: unknown }).name;
  return typeof name === 'string' && appNameSchema.safeParse(name).success ? name : undefined;
}
