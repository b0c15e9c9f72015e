/**
 * The GCRA decision as one Redis Lua script: read the owner's TAT, decide, store the new TAT with
 * an expiry, answer, all in one atomic round trip (Redis runs a script to completion before any
 * other command, so two replicas deciding for the same owner at once cannot both take the last
 * slot). GCRA rather than a sliding window because it needs one number per owner instead of a log
 * or two counters, has no boundary burst, and is what `gcra.ts` already does in memory: the
 * arithmetic below is that file's, line for line, and a test runs both over the same sequence.
 *
 * Time comes from Redis (`TIME`), so replicas with skewed clocks still share one timeline; tests
 * pass `now` explicitly. The TAT is stored with 17 significant digits so that it round-trips as
 * the same double (Lua's default number-to-string keeps 14), and expires when it is reached
 * (from then on an absent key decides the same way).
 *
 * KEYS[1] the owner's key; ARGV[1] requests; ARGV[2] window seconds; ARGV[3] now in ms, or ''.
 * Returns { allowed (1|0), remaining, retryAfterSeconds, resetSeconds }.
 */
export const gcraScript = `
if redis.replicate_commands then redis.replicate_commands() end
local requests = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2]) * 1000
local now
if ARGV[3] ~= nil and ARGV[3] ~= '' then
  now = tonumber(ARGV[3])
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local intervalMs = windowMs / requests
local slackMs = math.min(intervalMs / 1000, 0.5)
local tat = now
local stored = tonumber(redis.call('GET', KEYS[1]))
if stored ~= nil and stored > now then tat = stored end
local newTat = tat + intervalMs
local allowAt = newTat - windowMs
if allowAt - now > slackMs then
  return { 0, 0, math.max(1, math.ceil((allowAt - now) / 1000)), math.ceil((tat - now) / 1000) }
end
redis.call('SET', KEYS[1], string.format('%.17g', newTat), 'PX', string.format('%d', math.ceil(newTat - now)))
return { 1, math.floor((now - allowAt + slackMs) / intervalMs), 0, math.ceil((newTat - now) / 1000) }
`;

/**
 * The key of one app's owner. The braces are a Redis Cluster hash tag: everything about one owner
 * of one app lands in one slot, so the script (and any multi-key script later) runs on one node.
 * App names are Kubernetes names (no `:`), so `app:owner` cannot collide between apps; unknown
 * app names share the empty app.
 */
export function rateLimitKey(app: string, owner: string): string {
  return `darkroom:rl:{${app}:${owner}}`;
}
