-- Learn from one call's outcome, for the whole fleet, atomically.
--
-- KEYS[1] circuit hash; then per scope: closed key; then the first scope's
--   learned hash and, per limit, its TAT and meter keys; last, the scopes index
--   (acquire.lua), so that a scope closed or learned for longer stays listed as long.
-- ARGV[1] outcome: "ok" (answered), "unavailable" (5xx, timeout, no answer);
-- ARGV[2] failures that open the circuit, ARGV[3] cool-down (s), ARGV[4] "1"
--   if this call was the half-open probe; ARGV[5] retry-after (s) or "";
-- ARGV[6] remaining, ARGV[7] limit, ARGV[8] reset (unix s) — rate-limit headers
--   about the first scope, or "" — ARGV[9] scope count, then per limit of the
--   first scope: interval (s), burst.

local t = redis.call("TIME")
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nscopes = tonumber(ARGV[9])
local index = KEYS[#KEYS]

-- The scope whose closed key is `closed_key` stays indexed until `until_at` at least.
local function listed_until(closed_key, until_at)
  local scope = string.match(closed_key, "^.-closed:(.*)$")
  redis.call("ZADD", index, "GT", until_at, scope)
  if redis.call("TTL", index) < until_at - now then
    redis.call("EXPIRE", index, math.ceil(until_at - now))
  end
end

-- Circuit: consecutive unavailable outcomes open it; any answer closes it.
if ARGV[1] == "unavailable" then
  local failures = redis.call("HINCRBY", KEYS[1], "failures", 1)
  if ARGV[4] == "1" or failures >= tonumber(ARGV[2]) then
    redis.call("HSET", KEYS[1], "state", "open", "open_until", now + tonumber(ARGV[3]),
      "probe_until", 0, "opened_at", now)
  end
else
  redis.call("DEL", KEYS[1])
end

-- Retry-After closes every scope of the call, for every worker.
if ARGV[5] ~= "" then
  local until_at = now + tonumber(ARGV[5])
  for i = 1, nscopes do
    local current = tonumber(redis.call("GET", KEYS[1 + i]) or "0") or 0
    if until_at > current then
      redis.call("SET", KEYS[1 + i], tostring(until_at), "PX",
        math.max(1, math.ceil(tonumber(ARGV[5]) * 1000)))
      listed_until(KEYS[1 + i], until_at)
    end
  end
end

-- x-ratelimit-remaining / -reset: the provider's own count for the first scope.
if ARGV[6] ~= "" and ARGV[8] ~= "" then
  local remaining, reset = tonumber(ARGV[6]), tonumber(ARGV[8])
  local learned = KEYS[2 + nscopes]
  if reset > now then
    redis.call("HSET", learned, "remaining", remaining, "limit", ARGV[7], "reset", reset,
      "at", now)
    redis.call("PEXPIREAT", learned, math.ceil(reset * 1000) + 1000)
    listed_until(KEYS[2], reset + 1)
    if remaining <= 0 then
      local current = tonumber(redis.call("GET", KEYS[2]) or "0") or 0
      if reset > current then
        redis.call("SET", KEYS[2], tostring(reset), "PX", math.ceil((reset - now) * 1000))
      end
    else
      -- Less left than our limit would spend before the reset: a burst of at most
      -- what is left, the rest evenly until then — `remaining` calls before the
      -- window resets (acquire.lua). Otherwise: never hold more tokens than the
      -- provider says are left.
      local paced_already = redis.call("HEXISTS", learned, "interval") == 1
      local tightened = false
      local a = 10
      for j = 1, (#ARGV - 9) / 2 do
        local step, burst = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
        local key, meter = KEYS[1 + nscopes + 2 * j], KEYS[2 + nscopes + 2 * j]
        local tat = math.max(tonumber(redis.call("GET", key) or "0") or 0, now)
        local keep = math.min(burst, remaining)
        local interval = (reset - now) / math.max(remaining - keep, 1)
        if interval > step * 1.1 then  -- clearly less than our own limit would spend
          tightened = true
          redis.call("HSET", learned, "interval", interval, "burst", keep)
          if not paced_already then  -- from now on: `keep` at once, the rest spaced out
            redis.call("DEL", key, meter)
          end
        elseif (now + burst * step - tat) / step > remaining then
          local capped = now + (burst - remaining) * step
          redis.call("SET", key, tostring(capped), "PX", math.ceil((capped - now) * 1000) + 1000)
        end
        a = a + 2
      end
      if not tightened then
        redis.call("HDEL", learned, "interval", "burst")
      end
    end
  end
end
return 1
