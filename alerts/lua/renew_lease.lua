-- Take or renew the alert-evaluation lease: KEYS[1] the lease, ARGV[1] this worker's
-- owner id, ARGV[2] its time to live (ms). 1 when this worker holds it afterwards.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
