/**
 * The environment for a child process that must run on the machine's real clock while the suite
 * itself runs under libfaketime (CI's second run, `faketime '+400 days'`).
 *
 * Only redis-server needs it: its bundled jemalloc reads the clock before libfaketime has
 * initialised, and the process then never starts. Giving Redis the real clock changes nothing the
 * tests observe: Redis keeps its own clock in production too, the GCRA script reads `TIME` (or the
 * `now` a test passes) and every expiry it sets is relative (`PX`).
 */
export function realClockEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const cleaned: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('FAKETIME')) continue;
    if (name === 'LD_PRELOAD') {
      const kept = (value ?? '').split(/[:\s]+/).filter((library) => library && !library.includes('faketime'));
      if (kept.length > 0) cleaned[name] = kept.join(':');
      continue;
    }
    cleaned[name] = value;
  }
  return cleaned;
}
