-- apply_batch.lua: apply one batch of one Kafka partition to the windows, atomically.
--
-- Everything a batch changes is written here in one script, so a crash leaves either
-- all of it or none of it: conversation states, bucket increments, live-queue gauges,
-- pipeline counters and the partition's offset watermark. Before writing, it checks that
-- nothing it read has moved (optimistic concurrency): the store epoch, the partition's
-- last applied offset and each conversation's version. On a mismatch it writes nothing
-- and the caller re-reads (or, for the epoch, rebuilds: the store was flushed or lost).
--
-- KEYS[1]  offsets hash          field ARGV[1] -> last applied offset
-- KEYS[2]  event watermark hash  field ARGV[1] -> highest accepted occurred_at (ms)
-- KEYS[3]  stats hash            pipeline counters and maxima
-- KEYS[4]  store epoch string    must equal ARGV[5]
-- KEYS[5 .. 4+nc]               conversation hashes: v (version), s (state JSON)
-- KEYS[5+nc ..]                 keys the ops below refer to by index (buckets, gauges, sets,
--                               and the conversation keys of expiry candidates)
--
-- ARGV[1]  partition field "<topic>:<partition>"
-- ARGV[2]  expected last applied offset, "" when none was stored
-- ARGV[3]  new last applied offset
-- ARGV[4]  new event-time watermark (ms), "" to leave it
-- ARGV[5]  the store epoch the caller read its watermarks from
-- ARGV[6]  nc  (number of conversations)
-- ARGV[7]  conversation TTL (ms)
-- then nc pairs: expected version ("" = absent), new state JSON
-- then one JSON array of ops (decoded with cjson: one argument instead of thousands),
-- each [code, key index, a, b] with a and b as strings:
--   H: HINCRBY KEYS[i] a b      E: PEXPIRE KEYS[i] a       Z: ZADD KEYS[i] a(score) b
--   R: ZREM KEYS[i] a           S: SADD KEYS[i] a          M: HSET KEYS[i] a b if b > current
--   F: HSET KEYS[i] a b         D: HDEL KEYS[i] a          K: HINCRBY KEYS[i] a b, floor 0
--   B: HINCRBY KEYS[i] f n for every f: n of the object b, then PEXPIRE a; n is a JSON
--      integer, formatted with %d (exact below 2^53; a batch's delta is far smaller)
-- then one JSON array of expiry candidates, each [conversation key index, live-dims key
-- index, conversation id, expected live-dims entry, ops]: conversations whose state
-- expired while they still counted in the live gauges. Their ops (undoing that count)
-- run only if the conversation key is still absent and its live-dims entry is still the
-- one the caller read; otherwise someone else already undid it. They run before the
-- conversations are written, so a conversation that comes back in this batch is undone
-- first and counted afresh after.
--
-- Returns {1, "ok"} on success, {0, "epoch", <current>}, {0, "offset", <current>} or
-- {0, "conversation", <i>} when the store, a watermark or a conversation moved since the
-- caller read them.

local epoch = redis.call("GET", KEYS[4])
if epoch == false then epoch = "" end
if epoch ~= ARGV[5] then
  return {0, "epoch", epoch}
end

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

local function run(op)
  local code, key, x, y = op[1], KEYS[op[2]], op[3], op[4]
  if code == "B" then
    for f, n in pairs(y) do
      redis.call("HINCRBY", key, f, string.format("%d", n))
    end
    redis.call("PEXPIRE", key, x)
  elseif code == "H" then
    redis.call("HINCRBY", key, x, y)
  elseif code == "K" then  -- a count that never goes below 0 (a store older than it)
    if redis.call("HINCRBY", key, x, y) < 0 then
      redis.call("HSET", key, x, 0)
    end
  elseif code == "E" then
    redis.call("PEXPIRE", key, x)
  elseif code == "Z" then
    redis.call("ZADD", key, x, y)
  elseif code == "R" then
    redis.call("ZREM", key, x)
  elseif code == "S" then
    redis.call("SADD", key, x)
  elseif code == "F" then
    redis.call("HSET", key, x, y)
  elseif code == "D" then
    redis.call("HDEL", key, x)
  elseif code == "M" then
    local old = redis.call("HGET", key, x)
    if old == false or tonumber(old) < tonumber(y) then
      redis.call("HSET", key, x, y)
    end
  else
    error("apply_batch: unknown op " .. tostring(code))
  end
end

-- all checks passed: undo the live-gauge counts of expired conversations
local ops_at = a + 2 * nc
local candidates = cjson.decode(ARGV[ops_at + 1])
for _, c in ipairs(candidates) do
  if redis.call("EXISTS", KEYS[c[1]]) == 0 and redis.call("HGET", KEYS[c[2]], c[3]) == c[4] then
    for _, op in ipairs(c[5]) do
      run(op)
    end
  end
end

-- write
for i = 1, nc do
  local key = KEYS[4 + i]
  redis.call("HSET", key, "s", ARGV[a + 2 * (i - 1) + 1])
  redis.call("HINCRBY", key, "v", 1)
  redis.call("PEXPIRE", key, conv_ttl)
end
for _, op in ipairs(cjson.decode(ARGV[ops_at])) do
  run(op)
end

redis.call("HSET", KEYS[1], field, ARGV[3])
if ARGV[4] ~= "" then
  redis.call("HSET", KEYS[2], field, ARGV[4])
end
return {1, "ok"}
