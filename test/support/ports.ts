/** Free loopback ports for the real parts tests and benches start. */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';

/**
 * A port that was free a moment ago. Prefer port 0 where a server reports its own port; use this
 * only where a port must be known before its server starts (another process could take it in
 * between, which on a test machine is rare enough).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
