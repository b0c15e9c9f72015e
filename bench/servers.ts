/**
 * The servers a bench starts, as child processes: a handle to end one (SIGTERM, so darkroom
 * drains and exits, then SIGKILL if it has not exited after a grace period, so a stuck server
 * never outlives its bench), and what /proc says of one (resident memory, CPU time of the process
 * and of each of its threads). `taskset` execs its command, so a pinned server's pid is its own.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';

/** A server a bench started. */
export interface Running {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export function trackChild(child: ChildProcess, url: string, graceMs = 5_000): Running {
  return { url, child, stop: () => stopChild(child, graceMs) };
}

export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resident set size in MiB (0 once the process is gone). */
export async function rssMiB(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid ?? 0}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** CPU time (user + system) the process has spent so far, in ms. */
export async function processCpuMs(pid: number | undefined): Promise<number> {
  return parseStat(await readFile(`/proc/${pid ?? 0}/stat`, 'utf8').catch(() => ''))?.cpuMs ?? Number.NaN;
}

/** CPU time each thread of the process has spent so far, in ms, by thread id, with the thread's name. */
export async function threadCpuMs(pid: number | undefined): Promise<Map<string, { name: string; ms: number }>> {
  const threads = new Map<string, { name: string; ms: number }>();
  for (const tid of await readdir(`/proc/${pid ?? 0}/task`).catch(() => [] as string[])) {
    const stat = parseStat(await readFile(`/proc/${pid ?? 0}/task/${tid}/stat`, 'utf8').catch(() => ''));
    if (stat) threads.set(tid, { name: stat.name, ms: stat.cpuMs });
  }
  return threads;
}

/** USER_HZ: /proc counts CPU time in ticks of 10 ms. */
const msPerTick = 10;

/** The name and CPU time of a `stat` line (proc(5)); undefined for an empty or cut line. */
function parseStat(stat: string): { name: string; cpuMs: number } | undefined {
  // The name, in parentheses, may hold spaces; after it come state (field 3), ..., utime (14), stime (15).
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = stat.slice(close + 2).split(' ');
  return { name: stat.slice(stat.indexOf('(') + 1, close), cpuMs: (Number(fields[11]) + Number(fields[12])) * msPerTick };
}
