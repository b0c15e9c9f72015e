/**
 * A web app on its own origin, for cross-origin browser tests: a tiny node:http server on a free
 * loopback port serving a fixed set of files (the page, its script, the upload client's modules,
 * an Uppy bundle). Everything else is 404.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PageFile {
  readonly type: string;
  readonly body: string;
}

export interface PageServer {
  /** `http://localhost:PORT`: another origin than darkroom's `http://127.0.0.1:PORT`. */
  readonly origin: string;
  close(): Promise<void>;
}

export async function startPageServer(files: ReadonlyMap<string, PageFile>): Promise<PageServer> {
  const server = createServer((req, res) => {
    const file = files.get(new URL(req.url ?? '/', 'http://page.invalid').pathname);
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : file.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
