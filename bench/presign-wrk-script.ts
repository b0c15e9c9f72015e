/**
 * The wrk script both upload benches drive darkroom with: one presign request per call, owners
 * rotating over BENCH_OWNERS so that the rate limit never refuses, and a RESULT line of JSON that
 * the bench parses (requests, duration, p50/p99, errors, non-2xx).
 */
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
