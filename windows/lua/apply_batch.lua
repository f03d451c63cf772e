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
-- KEYS[5 .. 4+nc]               conversations: strings "<version>|<state JSON>" (one key
--                               each: a small hash with a state longer than 64 bytes is a
--                               full hash table in Redis, ~250 bytes more per conversation)
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
-- then one JSON object of ops, grouped by kind and key (see windows/ops.py Ops), each
-- entry a flat array beginning with a key index into KEYS:
--   r: [i, member, ...]            ZREM KEYS[i] members
--   z: [i, score, member, ...]     ZADD KEYS[i] score member ...
--   h: [i, field, n, ...]          HINCRBY KEYS[i] field n, per field
--   k: [i, field, neg, pos]        HINCRBY by neg, floored at 0, then by pos (a count that
--                                  never goes below 0)
--   f: [i, field, value, ...]      HSET KEYS[i] field value ...
--   s: [i, member, ...]            SADD KEYS[i] members
--   m: [i, field, value]           HSET KEYS[i] field value unless the stored one is larger
--   b: [i, ttl, field, n, ...]     a bucket: every field += n (one HMGET and one HSET), then
--                                  PEXPIRE ttl
--   e: [i, ttl]                    PEXPIRE KEYS[i] ttl, after every write
-- run in that order: per key, removals before additions. Integers are JSON numbers,
-- written with %d (exact below 2^53; a batch's delta is far smaller, and a stored value
-- past 15 digits takes HINCRBY instead).
-- then one JSON array of expiry candidates, each [conversation key index, live-dims key
-- index, conversation id, expected live-dims entry, ops]: conversations whose state
-- expired while they still counted in the live gauges. Their ops ([code, key index, a, b]
-- with a and b as strings, run one by one: H HINCRBY, K floored HINCRBY, R ZREM,
-- D HDEL) undo that count, and run only if the conversation key is still absent and its
-- live-dims entry is still the one the caller read; otherwise someone else already undid
-- it. They run before the conversations are written, so a conversation that comes back
-- in this batch is undone first and counted afresh after.
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
local function version(key)  -- "" when the conversation has no state
  local stored = redis.call("GET", key)
  if stored == false then return "" end
  return string.match(stored, "^(%d+)|") or ""
end
for i = 1, nc do
  if version(KEYS[4 + i]) ~= ARGV[a + 2 * (i - 1)] then
    return {0, "conversation", i}
  end
end

local function int(n)
  return string.format("%d", n)
end

local function run(op)  -- one op of an expiry candidate's undo list
  local code, key, x, y = op[1], KEYS[op[2]], op[3], op[4]
  if code == "H" then
    redis.call("HINCRBY", key, x, y)
  elseif code == "K" then
    if redis.call("HINCRBY", key, x, y) < 0 then
      redis.call("HSET", key, x, 0)
    end
  elseif code == "R" then
    redis.call("ZREM", key, x)
  elseif code == "D" then
    redis.call("HDEL", key, x)
  else
    error("apply_batch: unknown op " .. tostring(code))
  end
end

-- one call per key, the arguments cut below Lua's unpack limit (pairs stay whole)
local CHUNK = 4000
local function call_many(cmd, key, args, from)
  local i = from
  while i <= #args do
    local j = math.min(#args, i + CHUNK - 1)
    redis.call(cmd, key, unpack(args, i, j))
    i = j + 1
  end
end

local function add_to_bucket(b)
  local key = KEYS[b[1]]
  local fields = {}
  for i = 3, #b, 2 do
    fields[#fields + 1] = b[i]
  end
  local current = {}
  local i = 1
  while i <= #fields do
    local j = math.min(#fields, i + CHUNK - 1)
    local got = redis.call("HMGET", key, unpack(fields, i, j))
    for k = 1, #got do
      current[i + k - 1] = got[k]
    end
    i = j + 1
  end
  local args = {}
  for k = 1, #fields do
    local n, old = b[2 + 2 * k], current[k]
    if old and #old > 15 then  -- past what a Lua number holds exactly: let Redis add
      redis.call("HINCRBY", key, fields[k], int(n))
    else
      args[#args + 1] = fields[k]
      args[#args + 1] = int((tonumber(old) or 0) + n)
    end
  end
  call_many("HSET", key, args, 1)
  redis.call("PEXPIRE", key, b[2])
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

-- write: the conversations (version + 1 over the one checked above), then the ops
for i = 1, nc do
  local v = ARGV[a + 2 * (i - 1)]
  redis.call("SET", KEYS[4 + i], ((tonumber(v) or 0) + 1) .. "|" .. ARGV[a + 2 * (i - 1) + 1],
             "PX", conv_ttl)
end
local ops = cjson.decode(ARGV[ops_at])
for _, r in ipairs(ops.r) do
  call_many("ZREM", KEYS[r[1]], r, 2)
end
for _, z in ipairs(ops.z) do
  for i = 2, #z, 2 do
    z[i] = string.format("%.17g", z[i])
  end
  call_many("ZADD", KEYS[z[1]], z, 2)
end
for _, h in ipairs(ops.h) do
  local key = KEYS[h[1]]
  for i = 2, #h, 2 do
    redis.call("HINCRBY", key, h[i], int(h[i + 1]))
  end
end
for _, k in ipairs(ops.k) do
  local key, field = KEYS[k[1]], k[2]
  if k[3] ~= 0 and redis.call("HINCRBY", key, field, int(k[3])) < 0 then
    redis.call("HSET", key, field, 0)
  end
  if k[4] ~= 0 then
    redis.call("HINCRBY", key, field, int(k[4]))
  end
end
for _, f in ipairs(ops.f) do
  call_many("HSET", KEYS[f[1]], f, 2)
end
for _, m in ipairs(ops.s) do
  call_many("SADD", KEYS[m[1]], m, 2)
end
for _, m in ipairs(ops.m) do
  local key = KEYS[m[1]]
  local old = redis.call("HGET", key, m[2])
  if old == false or tonumber(old) < m[3] then
    redis.call("HSET", key, m[2], int(m[3]))
  end
end
for _, b in ipairs(ops.b) do
  add_to_bucket(b)
end
for _, e in ipairs(ops.e) do
  redis.call("PEXPIRE", KEYS[e[1]], e[2])
end

redis.call("HSET", KEYS[1], field, ARGV[3])
if ARGV[4] ~= "" then
  redis.call("HSET", KEYS[2], field, ARGV[4])
end
return {1, "ok"}
