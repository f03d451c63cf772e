-- admit_values.lua: admit new values of capped dimensions, store-wide, up to the cap.
--
-- The admitted sets are shared by every partition, so they live in the store's own slot,
-- outside any partition batch; this script keeps the cap exact when several workers
-- admit at once. Values admitted for a batch that then fails stay admitted (harmless: the
-- next batch with them would admit them anyway).
--
-- KEYS[i]    the admitted-values set of one dimension
-- ARGV[1]    the cap (values per dimension)
-- ARGV[1+i]  JSON array of candidate values for KEYS[i]
--
-- Returns, per key, a JSON array of the candidates that are admitted now.

local cap = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local granted = {}
  for _, v in ipairs(cjson.decode(ARGV[1 + i])) do
    if redis.call("SISMEMBER", key, v) == 1 then
      table.insert(granted, v)
    elseif redis.call("SCARD", key) < cap then
      redis.call("SADD", key, v)
      table.insert(granted, v)
    end
  end
  out[i] = cjson.encode(granted)
end
return out
