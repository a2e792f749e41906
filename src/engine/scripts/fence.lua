-- Record a new holder's fence once its acquisition has concluded, only while that token holds
-- the lock here: the counter and the hash's fence are raised to it where lower (never lowered:
-- a late or repeated record changes nothing). Awaited on a quorum when the quorum's counters
-- disagreed (so any later holder's quorum reads a counter at least this high); otherwise sent
-- without waiting, as the mark that the holder has finished (`fence` no longer 0).
-- KEYS[1] lock hash, KEYS[2] fence counter; ARGV[1] token, ARGV[2] fence
-- -> 1 recorded, 0 not ours here
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
local fence = tonumber(ARGV[2])
if counter(KEYS[2]) < fence then
  redis.call('SET', KEYS[2], ARGV[2])
end
if (tonumber(redis.call('HGET', KEYS[1], 'fence') or '0') or 0) < fence then
  redis.call('HSET', KEYS[1], 'fence', ARGV[2])
end
return 1
