-- first_seen.lua: keep, per value of a capped dimension, the earliest first event time of
-- a conversation carrying it (a minimum: whichever partition reports first, the result
-- is the same). The read side labels the earliest values; the rest read as "other".
--
-- KEYS[i]    the first-seen hash of one dimension
-- ARGV[i]    JSON object value -> first event time (ms, as a string) for KEYS[i]
--
-- Returns, per key, a JSON object of the stored times of those values after the update.

local out = {}
for i, key in ipairs(KEYS) do
  local stored = {}
  for v, t in pairs(cjson.decode(ARGV[i])) do
    local cur = redis.call("HGET", key, v)
    if not cur or tonumber(t) < tonumber(cur) then
      redis.call("HSET", key, v, t)
      cur = t
    end
    stored[v] = cur
  end
  out[i] = cjson.encode(stored)
end
return out
