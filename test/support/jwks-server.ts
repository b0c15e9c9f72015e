/**
 * A token issuer for tests: real key pairs (jose `generateKeyPair`), a JWKS served over real HTTP
 * on a free loopback port, and tokens minted from a clock the test controls. The endpoint can be
 * switched to answer 500 (`down`) or to accept connections and never answer (`hang`), which is
 * what an overloaded or black-holed identity provider does.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** One signing key and its public JWK. */
export interface TestKey {
  readonly alg: 'RS256' | 'ES256' | 'EdDSA';
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function testKey(alg: TestKey['alg'], kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, publicJwk };
}

/** Mints a token signed by `key`: `iat` now, `exp` five minutes on, both from `nowMs`. */
export function mintToken(key: TestKey, nowMs: number, claims: { iss: string; aud: string | string[] } & JWTPayload): Promise<string> {
  const nowSeconds = Math.floor(nowMs / 1000);
  return new SignJWT({ iat: nowSeconds, exp: nowSeconds + 300, ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}

export type JwksMode = 'ok' | 'down' | 'hang';

export interface JwksServer {
  readonly url: string;
  /** The keys served at `/jwks`. */
  keys: JWK[];
  mode: JwksMode;
  /** GET requests received at `/jwks`, whatever the mode. */
  readonly fetches: () => number;
  close(): Promise<void>;
}

/** Serves `/jwks` per `mode`, and `/hang` that never answers and `/down` that always fails. */
export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  let fetches = 0;
  const hanging = new Set<ServerResponse>();
  const state = { keys, mode: 'ok' as JwksMode };
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    if (path === '/jwks') fetches += 1;
    const mode: JwksMode = path === '/hang' ? 'hang' : path === '/down' ? 'down' : state.mode;
    if (mode === 'hang') {
      hanging.add(res);
      return; // headers never come
    }
    if (mode === 'down' || path !== '/jwks' && path !== '/down' && path !== '/hang') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: state.keys }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get keys() {
      return state.keys;
    },
    set keys(value: JWK[]) {
      state.keys = value;
    },
    get mode() {
      return state.mode;
    },
    set mode(value: JwksMode) {
      state.mode = value;
    },
    fetches: () => fetches,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
