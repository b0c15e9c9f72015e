/**
 * A real nginx as the authenticating gateway in front of darkroom, running the documented config
 * (examples/gateway/nginx-owner-id.conf) with a small auth service that maps bearer tokens to
 * owners, as oauth2-proxy or an identity-aware proxy would.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nginxConfigFile, waitForPort } from './nginx-cdn.js';
import { freePort } from './ports.js';

export interface NginxGateway {
  readonly url: string;
  close(): Promise<void>;
}

/** `owners` maps a bearer token to the owner the auth service asserts for it. */
export async function startNginxGateway(darkroomUrl: string, owners: Readonly<Record<string, string>>): Promise<NginxGateway> {
  const auth = createServer((req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const owner = token === undefined ? undefined : owners[token];
    if (owner === undefined) res.writeHead(401).end();
    else res.writeHead(200, { 'X-Owner-Id': owner }).end();
  });
  auth.listen(0, '127.0.0.1');
  await once(auth, 'listening');
  const authPort = (auth.address() as AddressInfo).port;

  const dir = await mkdtemp(join(tmpdir(), 'darkroom-gateway-'));
  const port = await freePort();
  const documented = await readFile('examples/gateway/nginx-owner-id.conf', 'utf8');
  const server = documented.replaceAll('DARKROOM_UPSTREAM', new URL(darkroomUrl).host).replaceAll('AUTH_UPSTREAM', `127.0.0.1:${authPort}`);
  await writeFile(join(dir, 'nginx.conf'), nginxConfigFile(dir, { workerConnections: 64, server: `    listen 127.0.0.1:${port};\n${server}` }));
  let stderr = '';
  const child = spawn('/usr/sbin/nginx', ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const close = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await new Promise<void>((resolve) => auth.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child);
  } catch (error) {
    await close();
    throw new Error(`${(error as Error).message}: ${stderr}`);
  }
  return { url: `http://127.0.0.1:${port}`, close };
}
