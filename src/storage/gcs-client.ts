/**
 * Builds `@google-cloud/storage` clients with the identity and limits darkroom relies on. Kept
 * apart from the provider so the provider receives a ready client (and tests can hand it one).
 *
 * Identities, and how a V4 URL gets signed under each:
 * - `ambient` (default): Application Default Credentials. A key file named by
 *   `GOOGLE_APPLICATION_CREDENTIALS` signs locally; workload identity (GKE, Cloud Run) has no
 *   private key, so the library signs through the IAM Credentials `signBlob` API.
 * - `service-account`: an explicit key (from the app's Secret); signs locally.
 * - `auth-client`: a ready google-auth-library client with no private key (a token broker, an
 *   external account) and the service account it acts as; signs through `signBlob`.
 */
import { Storage } from '@google-cloud/storage';
import { GoogleAuth, JWT, type AuthClient } from 'google-auth-library';

/** Who darkroom is when it talks to GCS. */
export type GcsIdentity =
  | { readonly kind: 'ambient' }
  | { readonly kind: 'service-account'; readonly clientEmail: string; readonly privateKey: string }
  | { readonly kind: 'auth-client'; readonly clientEmail: string; readonly authClient: AuthClient };

/** Where and how to reach GCS. */
export interface GcsClientOptions {
  readonly identity: GcsIdentity;
  /**
   * Replaces `https://storage.googleapis.com` (JSON API reads and the host of signed URLs), e.g.
   * an emulator or a Private Service Connect endpoint. Reads through an `http:` endpoint are sent
   * without credentials (the emulator convention of `STORAGE_EMULATOR_HOST`); through `https:`
   * they carry the identity's token. Default: Google's public endpoint.
   */
  readonly endpoint?: string | undefined;
  /** Per-request timeout for JSON API calls, until response headers, in ms. Default 15 000. */
  readonly requestTimeoutMs?: number;
}

/** OAuth scope for reads; signing needs no scope with a local key, and `signBlob` uses cloud-platform. */
const scopes = ['https://www.googleapis.com/auth/cloud-platform'];
const defaultRequestTimeoutMs = 15_000;
/**
 * Timeout of the auth clients' own requests (token fetches, IAM signBlob), in ms. The provider
 * answers the caller at its sign deadline whatever happens; this also ends the abandoned request.
 */
const authRequestTimeoutMs = 10_000;
const clientOptions = { transporterOptions: { timeout: authRequestTimeoutMs } };

export function createGcsStorage(options: GcsClientOptions): Storage {
  const endpoint = options.endpoint?.replace(/\/+$/, '');
  return new Storage({
    authClient: googleAuthFor(options.identity),
    ...(endpoint ? { apiEndpoint: endpoint, useAuthWithCustomEndpoint: endpoint.startsWith('https:') } : {}),
    timeout: options.requestTimeoutMs ?? defaultRequestTimeoutMs,
    // One retry, soon: a read that keeps failing becomes a 503 with Retry-After rather than a
    // request held for the library's default ten minutes of backoff.
    retryOptions: { autoRetry: true, maxRetries: 1, maxRetryDelay: 1, totalTimeout: 10 },
  });
}

function googleAuthFor(identity: GcsIdentity): GoogleAuth {
  switch (identity.kind) {
    case 'ambient':
      return new GoogleAuth({ scopes, clientOptions });
    case 'service-account': {
      const auth = new GoogleAuth({
        authClient: new JWT({ email: identity.clientEmail, key: identity.privateKey, scopes, ...clientOptions }),
        scopes,
      });
      // The URL signer asks GoogleAuth.getCredentials() for the signing account, which reads this
      // field; the constructor's `credentials` option would fill it too, but is deprecated and
      // warns on every build.
      auth.jsonContent = { client_email: identity.clientEmail, private_key: identity.privateKey };
      return auth;
    }
    case 'auth-client': {
      const auth = new GoogleAuth({ authClient: identity.authClient, scopes });
      // No private key: GoogleAuth.sign() falls through to IAM signBlob for this account.
      auth.jsonContent = { client_email: identity.clientEmail };
      return auth;
    }
  }
}
