-- Record the fence a new holder computed (max of a quorum's counters + 1), only while that
-- token holds the lock here, so any later holder's quorum reads a counter at least this high.
-- KEYS[1] lock hash, KEYS[2] fence counter; ARGV[1] token, ARGV[2] fence
-- -> 1 recorded, 0 not ours here
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
if counter(KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2])
end
redis.call('HSET', KEYS[1], 'fence', ARGV[2])
return 1
