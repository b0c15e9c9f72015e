/**
 * Setup of the `unit` tier: it must run on any machine with Node (no Debian packages, no root, no
 * network), so a unit test that opens a socket, listens on a port or starts a process fails at
 * once, naming what it tried, instead of working only where the real parts happen to be
 * installed. Such a test belongs to the `integration` tier.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

function refuse(what: string): never {
  throw new Error(`unit tier: ${what} is not allowed here (no processes, no network); move the test to test/integration`);
}

net.Socket.prototype.connect = function connect() {
  refuse('opening a network connection');
};
net.Server.prototype.listen = function listen() {
  refuse('listening on a port');
} as typeof net.Server.prototype.listen;
for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  (childProcess as unknown as Record<string, unknown>)[name] = () => refuse(`starting a process (child_process.${name})`);
}
// Named imports (`import { spawn } from 'node:child_process'`) see the replacements too.
syncBuiltinESMExports();
