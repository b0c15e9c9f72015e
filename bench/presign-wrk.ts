/**
 * The load both upload benches drive darkroom with: a wrk script of one presign request per call,
 * owners rotating over BENCH_OWNERS so that the rate limit never refuses, a RESULT line of JSON
 * (requests, duration, p50/p99, errors, non-2xx), and the runner that reads it. wrk runs on core 1.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export const presignBody = '{"file":"photo.png","contentType":"image/png","size":123456}';

export const presignWrkScript = `
local counter = 0
local owners = tonumber(os.getenv("BENCH_OWNERS") or "5000")
local body = '${presignBody}'
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["X-Owner-Id"] = "owner-" .. (counter % owners) }, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;

/** What one wrk run measured. */
export interface PresignThroughput {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
}

/** Runs wrk with `scriptPath` against `url` for `seconds`, with `connections` and BENCH_OWNERS=`owners`. */
export async function runPresignWrk(scriptPath: string, url: string, seconds: number, load: { connections: number; owners: number }): Promise<PresignThroughput> {
  const child = spawn('taskset', ['-c', '1', 'wrk', '-t1', `-c${load.connections}`, `-d${seconds}s`, '--latency', '-s', scriptPath, url], {
    env: { ...process.env, BENCH_OWNERS: String(load.owners) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await once(child, 'exit');
  const line = output.split('\n').find((text) => text.startsWith('RESULT '));
  if (!line) throw new Error(`wrk printed no result:\n${output}`);
  const raw = JSON.parse(line.slice('RESULT '.length)) as { requests: number; durationUs: number; p50Us: number; p99Us: number; errors: number; non2xx: number };
  return { requestsPerSecond: raw.requests / (raw.durationUs / 1e6), p50Ms: raw.p50Us / 1000, p99Ms: raw.p99Us / 1000, errors: raw.errors, non2xx: raw.non2xx };
}
