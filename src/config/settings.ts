/**
 * Process settings, read from the environment once at start, validated with one clear message per
 * wrong value, then frozen and passed down. Nothing else in darkroom reads `process.env`.
 */
import { z } from 'zod';

const portSchema = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a port number' })
    .int('must be a whole number')
    .min(0, 'must be from 0 to 65535')
    .max(65535, 'must be from 0 to 65535')
    .default(fallback);

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const settingsSchema = z
  .object({
    /** Port of the public API (uploads, reads, /healthz, /readyz). Default 8080; 0 picks a free port. */
    PORT: portSchema(8080),
    /** Port of the admin server (/metrics), never exposed by the public ingress. Default 9090. */
    ADMIN_PORT: portSchema(9090),
    /** Interface both servers bind to. Default all interfaces. */
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    /** A YAML file of DarkroomApp documents: configuration without a cluster. */
    DARKROOM_APPS_FILE: optionalText,
    /** Default endpoint for S3 apps that name none (MinIO, the embedded dev storage). */
    DARKROOM_S3_ENDPOINT: optionalText.pipe(
      z
        .string()
        .refine((value) => /^https?:\/\/[^/]+/.test(value), 'must be an http(s) URL')
        .optional(),
    ),
    /** Base URL for public image URLs of apps whose spec names no `publicBaseURL`. */
    DARKROOM_PUBLIC_BASE_URL: optionalText.pipe(
      z
        .string()
        .refine((value) => /^https?:\/\/[^/]+/.test(value), 'must be an http(s) URL')
        .transform((value) => value.replace(/\/+$/, ''))
        .optional(),
    ),
    /** pino log level. Default info. */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((value, context) => {
    if (value.PORT !== 0 && value.PORT === value.ADMIN_PORT) {
      context.addIssue({ code: 'custom', path: ['ADMIN_PORT'], message: 'must differ from PORT' });
    }
  });

/** The validated, frozen process settings. */
export interface Settings {
  readonly port: number;
  readonly adminPort: number;
  readonly host: string;
  readonly appsFile: string | undefined;
  readonly s3DefaultEndpoint: string | undefined;
  readonly defaultPublicBaseURL: string | undefined;
  readonly logLevel: string;
}

/** Thrown with every problem at once, so an operator fixes them all in one go. */
export class SettingsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid settings:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

/** Reads and validates the settings from an environment (pure: pass `process.env` in). */
export function loadSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const result = settingsSchema.safeParse(env);
  if (!result.success) {
    throw new SettingsError(
      result.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment');
        const raw = env[name];
        return `${name}: ${issue.message}${raw === undefined ? '' : ` (got ${JSON.stringify(raw)})`}`;
      }),
    );
  }
  const value = result.data;
  return Object.freeze({
    port: value.PORT,
    adminPort: value.ADMIN_PORT,
    host: value.HOST,
    appsFile: value.DARKROOM_APPS_FILE,
    s3DefaultEndpoint: value.DARKROOM_S3_ENDPOINT,
    defaultPublicBaseURL: value.DARKROOM_PUBLIC_BASE_URL,
    logLevel: value.LOG_LEVEL,
  });
}
