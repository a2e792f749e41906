-- Leave the queue (the wait ended without the lock: a signal, --wait ran out, an error).
-- KEYS[1] queue, KEYS[2] qinfo, KEYS[3] lock hash, KEYS[4] registry of the other holds
-- ARGV[1] token, ARGV[2] wake-up channel prefix, ARGV[3] hold key prefix
-- -> 1; the waiters whose turn it is now that we are gone (if we stood in their way) are told.
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if rank then
  wake_turns(KEYS[3], KEYS[4], ARGV[3], KEYS[1], KEYS[2], ARGV[2], ARGV[1])
end
return 1
