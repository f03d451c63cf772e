-- apply_batch.lua: apply one batch of one Kafka partition to the windows, atomically.
--
-- Everything a batch changes is written here in one script, so a crash leaves either
-- all of it or none of it: conversation states, bucket increments, live-queue gauges,
-- pipeline counters and the partition's offset watermark. Before writing, it checks that
-- nothing it read has moved (optimistic concurrency): the partition's last applied offset
-- and each conversation's version. On a mismatch it writes nothing and the caller re-reads.
--
-- KEYS[1]  offsets hash          field ARGV[1] -> last applied offset
-- KEYS[2]  event watermark hash  field ARGV[1] -> highest accepted occurred_at (ms)
-- KEYS[3]  stats hash            pipeline counters and maxima
-- KEYS[4]  store epoch string    set if missing
-- KEYS[5 .. 4+nc]               conversation hashes: v (version), s (state JSON)
-- KEYS[5+nc ..]                 keys the ops below refer to by index (buckets, gauges, sets)
--
-- ARGV[1]  partition field "<topic>:<partition>"
-- ARGV[2]  expected last applied offset, "" when none was stored
-- ARGV[3]  new last applied offset
-- ARGV[4]  new event-time watermark (ms), "" to leave it
-- ARGV[5]  epoch value to set when the epoch key is missing
-- ARGV[6]  nc  (number of conversations)
-- ARGV[7]  conversation TTL (ms)
-- then nc pairs: expected version ("" = absent), new state JSON
-- then one JSON array of ops (decoded with cjson: one argument instead of thousands),
-- each [code, key index, a, b] with a and b as strings:
--   H: HINCRBY KEYS[i] a b      E: PEXPIRE KEYS[i] a       Z: ZADD KEYS[i] a(score) b
--   R: ZREM KEYS[i] a           S: SADD KEYS[i] a          M: HSET KEYS[i] a b if b > current
--   B: HINCRBY KEYS[i] f n for every f: n of the object b, then PEXPIRE a; n is a JSON
--      integer, formatted with %d (exact below 2^53; a batch's delta is far smaller)
--
-- Returns {1, "ok"} on success, {0, "offset", <current>} or {0, "conversation", <i>}
-- when a watermark or a conversation moved since the caller read them.

local field = ARGV[1]
local current = redis.call("HGET", KEYS[1], field)
if current == false then current = "" end
if current ~= ARGV[2] then
  return {0, "offset", current}
end

local nc = tonumber(ARGV[6])
local conv_ttl = tonumber(ARGV[7])
local a = 8
for i = 1, nc do
  local v = redis.call("HGET", KEYS[4 + i], "v")
  if v == false then v = "" end
  if v ~= ARGV[a + 2 * (i - 1)] then
    return {0, "conversation", i}
  end
end

-- all checks passed: write
for i = 1, nc do
  local key = KEYS[4 + i]
  redis.call("HSET", key, "s", ARGV[a + 2 * (i - 1) + 1])
  redis.call("HINCRBY", key, "v", 1)
  redis.call("PEXPIRE", key, conv_ttl)
end
a = a + 2 * nc

local ops = cjson.decode(ARGV[a])
for _, op in ipairs(ops) do
  local code, key, x, y = op[1], KEYS[op[2]], op[3], op[4]
  if code == "B" then
    for f, n in pairs(y) do
      redis.call("HINCRBY", key, f, string.format("%d", n))
    end
    redis.call("PEXPIRE", key, x)
  elseif code == "H" then
    redis.call("HINCRBY", key, x, y)
  elseif code == "E" then
    redis.call("PEXPIRE", key, x)
  elseif code == "Z" then
    redis.call("ZADD", key, x, y)
  elseif code == "R" then
    redis.call("ZREM", key, x)
  elseif code == "S" then
    redis.call("SADD", key, x)
  elseif code == "M" then
    local old = redis.call("HGET", key, x)
    if old == false or tonumber(old) < tonumber(y) then
      redis.call("HSET", key, x, y)
    end
  else
    return redis.error_reply("apply_batch: unknown op " .. tostring(code))
  end
end

redis.call("HSET", KEYS[1], field, ARGV[3])
if ARGV[4] ~= "" then
  redis.call("HSET", KEYS[2], field, ARGV[4])
end
redis.call("SET", KEYS[4], ARGV[5], "NX")
return {1, "ok"}
