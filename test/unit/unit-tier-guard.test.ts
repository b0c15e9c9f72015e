/**
 * The unit tier's promise (runs on any machine with Node) rests on its guard: these prove the
 * guard refuses a socket, a port and a process, so a test needing real parts cannot hide here.
 */
import { execFile, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';

describe('the unit tier guard', () => {
  it('refuses to listen on a port', () => {
    expect(() => createServer().listen(0, '127.0.0.1')).toThrow(/unit tier: listening on a port/);
  });

  it('refuses to open a connection, also through fetch', async () => {
    expect(() => connect(9, '127.0.0.1')).toThrow(/unit tier: opening a network connection/);
    const failure: unknown = await fetch('http://127.0.0.1:8099/').catch((error: unknown) => error);
    expect(String((failure as { cause?: unknown }).cause)).toMatch(/unit tier: opening a network connection/);
  });

  it('refuses to start a process, through named imports too', () => {
    expect(() => spawn('true')).toThrow(/unit tier: starting a process \(child_process.spawn\)/);
    expect(() => execFile('true')).toThrow(/unit tier: starting a process \(child_process.execFile\)/);
  });
});
