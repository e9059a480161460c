-- Admit one call against all its scopes and its provider's circuit, atomically.
--
-- KEYS[1] circuit hash, KEYS[2] index of known scopes (zset); then per scope:
--   closed key, learned hash, parked zset, and per limit: its TAT key and its
--   meter key.
-- ARGV[1] "1" if the call holds a reservation (its tokens were taken when it
--   parked), ARGV[2] run id, ARGV[3] probe lease (s), ARGV[4] scope count,
--   ARGV[5] schedule slack (the TAT's interval / the limit's), ARGV[6] seconds a
--   scope stays indexed after its last use, at least; then per scope: name, limit
--   count, and per limit: interval (s), burst.
--
-- Budgets are GCRA buckets, two per limit. The TAT schedules: a call that
-- does not conform now is not refused, it reserves the earliest slot at which
-- every bucket admits it (tokens taken now, for then) and parks until that
-- slot, so parked calls come back one by one at the limit's pace instead of
-- all at once. The meter counts only calls actually let through, when they
-- are: a reserved call back late (a busy worker) must still conform to it, so
-- late calls cannot bunch up with punctual ones into a window over limit +
-- burst; if not, it parks again, keeping its reservation.
-- A closed scope or an open circuit reserves nothing: the call parks until
-- it opens. Returns {wait seconds, reason, reserved 0/1, probe 0/1, failures}.
--
-- Every key a scope keeps expires once idle: buckets when they are full again,
-- a closing when it is over, parked sets after their last park. The index scores
-- each scope by when its state is gone (and at least ARGV[6] after its last use);
-- past that it leaves the index, which expires itself once every scope has.

local t = redis.call("TIME")
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local reserved = ARGV[1] == "1"
local run_id = ARGV[2]
local probe_lease = tonumber(ARGV[3])
local nscopes = tonumber(ARGV[4])
local slack = tonumber(ARGV[5])
local idle = tonumber(ARGV[6])

local wait, reason, parked_key = 0, "", nil

-- The provider's circuit: open → wait; cool-down over → one probe at a time.
local circuit = redis.call("HMGET", KEYS[1], "state", "open_until", "probe_until", "failures")
local failures = tonumber(circuit[4]) or 0
local probe = 0
if circuit[1] == "open" then
  local open_until = tonumber(circuit[2]) or 0
  local probe_until = tonumber(circuit[3]) or 0
  if now < open_until then
    wait, reason = open_until - now, "circuit open"
  elseif now < probe_until then
    -- short: a probe usually answers within a second, then the circuit is closed
    wait, reason = math.min(probe_until - now, 1), "circuit probing"
  else
    probe = 1
  end
end

-- Closed scopes (a provider said "not until then"), and the buckets to take;
-- for the index, how long each scope's state lasts from now.
local buckets, names, lasts = {}, {}, {}
local k, a = 3, 7
for i = 1, nscopes do
  local scope, nlimits = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  local closed_key, learned_key, zset = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  k = k + 3
  names[i] = scope
  local closed_until = tonumber(redis.call("GET", closed_key) or "0") or 0
  lasts[scope] = math.max(idle, closed_until - now)
  if closed_until - now > wait then
    wait, reason, parked_key = closed_until - now, "closed: " .. scope, zset
  end
  -- A provider that said less is left than we thought: what it said (learn.lua)
  -- replaces the bucket until its window resets.
  local learned = redis.call("HMGET", learned_key, "interval", "burst")
  local learned_interval = tonumber(learned[1] or "0") or 0
  for _ = 1, nlimits do
    local interval, burst = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    if learned_interval > interval then
      interval, burst = learned_interval, math.max(1, tonumber(learned[2] or "1") or 1)
    end
    buckets[#buckets + 1] = {KEYS[k], interval, burst, zset, scope, KEYS[k + 1]}
    lasts[scope] = math.max(lasts[scope], burst * interval * slack)  -- empty to full
    a, k = a + 2, k + 2
  end
end

-- Before every return: each scope indexed until its state is gone (never sooner
-- than a score it has), past ones dropped, the index kept as long as its last.
local function index(parked_for)
  local longest = 0
  for _, scope in ipairs(names) do
    local last = math.max(lasts[scope], parked_for)
    redis.call("ZADD", KEYS[2], "GT", now + last, scope)
    longest = math.max(longest, last)
  end
  redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", now)
  if redis.call("TTL", KEYS[2]) < longest then
    redis.call("EXPIRE", KEYS[2], math.ceil(longest))
  end
end

local function park(until_wait, why, zset)
  index(until_wait)
  if zset then
    redis.call("ZADD", zset, now + until_wait, run_id)
    redis.call("ZREMRANGEBYSCORE", zset, "-inf", now - 60)
    redis.call("EXPIRE", zset, math.ceil(until_wait) + 3600)
  end
  return {tostring(until_wait), why, 0, 0, failures}
end

if wait > 0 then
  return park(wait, reason, parked_key)
end

local function park_reserved(until_wait, binding)
  index(until_wait)
  redis.call("ZADD", binding[4], now + until_wait, run_id)
  redis.call("ZREMRANGEBYSCORE", binding[4], "-inf", now - 60)
  redis.call("EXPIRE", binding[4], math.ceil(until_wait) + 3600)
  return {tostring(until_wait), "budget: " .. binding[5], 1, 0, failures}
end

-- The earliest time every bucket of `field` (1: TAT, 6: meter) admits one more call.
local function step(field, b)
  return field == 1 and b[2] * slack or b[2]
end

local function earliest(field, from)
  local slot, binding = from, nil
  for _, b in ipairs(buckets) do
    b["v" .. field] = tonumber(redis.call("GET", b[field]) or "0") or 0
    local allowed_at = math.max(b["v" .. field], now) + step(field, b) - b[3] * step(field, b)
    if allowed_at > slot + 0.000001 then  -- not a float rounding of "now"
      slot, binding = allowed_at, b
    end
  end
  return slot, binding
end

local function take(field, at)
  for _, b in ipairs(buckets) do
    local tat = math.max(b["v" .. field], at) + step(field, b)
    redis.call("SET", b[field], tostring(tat), "PX", math.ceil((tat - now) * 1000) + 1000)
    lasts[b[5]] = math.max(lasts[b[5]], tat - now + 1)
  end
end

local metered, meter_binding = earliest(6, now)
if reserved then
  if metered > now then  -- back late behind others: wait for the meter, keep the slot
    return park_reserved(metered - now, meter_binding)
  end
else
  local slot, binding = earliest(1, metered)
  take(1, slot)
  if slot > now then
    return park_reserved(slot - now, binding or meter_binding)
  end
end
take(6, now)

if probe == 1 then
  redis.call("HSET", KEYS[1], "probe_until", now + probe_lease)
end
index(0)
return {"0", "", 0, probe, failures}
