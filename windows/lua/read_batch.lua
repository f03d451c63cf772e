-- read_batch.lua: everything a batch of one Kafka partition depends on, in one call.
--
-- Read only. A batch of thousands of events brings hundreds of conversations this worker
-- has not written last; one HMGET each in a pipeline cost the worker more to pack and
-- parse than the reads cost Redis.
--
-- KEYS[1]  the partition slot's epoch copy
-- KEYS[2]  offsets hash             field ARGV[1] -> last applied offset
-- KEYS[3]  event watermark hash     field ARGV[1] -> highest accepted occurred_at (ms)
-- KEYS[4]  live sorted set          conversations scored by their last write (ms)
-- KEYS[5]  live-dims hash           conversation id -> what it counts in the live gauges
-- KEYS[6 ..]                        the conversations asked for (strings "<version>|<state>")
--
-- ARGV[1]  partition field "<topic>:<partition>"
-- ARGV[2]  expiry cutoff (ms): live members scored at or below it are candidates
-- ARGV[3]  how many candidates at most
-- ARGV[4 ..] the ids of the conversations asked for, in the order of their keys
--
-- Returns {epoch or false, last offset or false, event watermark or false,
--          {stored value or false} per conversation asked for,
--          {live-dims entry or false} per conversation asked for,
--          {candidate id, live-dims entry or false, ...}}

local epoch = redis.call("GET", KEYS[1])
local last = redis.call("HGET", KEYS[2], ARGV[1])
local ewm = redis.call("HGET", KEYS[3], ARGV[1])

local states = {}
for i = 6, #KEYS do
  states[#states + 1] = redis.call("GET", KEYS[i])
end

-- the live-dims entries of the conversations asked for, in pieces below Lua's unpack limit
local entries = {}
local i = 4
while i <= #ARGV do
  local j = math.min(#ARGV, i + 3999)
  local got = redis.call("HMGET", KEYS[5], unpack(ARGV, i, j))
  for k = 1, #got do
    entries[#entries + 1] = got[k]
  end
  i = j + 1
end

local expired = {}
local ids = redis.call("ZRANGEBYSCORE", KEYS[4], "-inf", ARGV[2], "LIMIT", 0, ARGV[3])
if #ids > 0 then
  local found = redis.call("HMGET", KEYS[5], unpack(ids))
  for i = 1, #ids do
    expired[#expired + 1] = ids[i]
    expired[#expired + 1] = found[i]
  end
end

return {epoch, last, ewm, states, entries, expired}
