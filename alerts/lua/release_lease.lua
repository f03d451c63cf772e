-- Give the alert-evaluation lease back on a graceful stop, so another worker takes it at
-- its next evaluation: KEYS[1] the lease, ARGV[1] this worker's owner id.
-- 1 when it was ours and is gone.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
