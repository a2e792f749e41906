-- Leave the queue (the wait ended without the lock: a signal, --wait ran out, an error).
-- KEYS[1] queue, KEYS[2] qinfo, ARGV[1] token, ARGV[2] wake-up channel prefix
-- -> 1; if we were next in line, the waiter after us is told it is its turn.
local was_head = redis.call('ZRANGE', KEYS[1], 0, 0)[1] == ARGV[1]
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if was_head then
  wake_next(KEYS[1], KEYS[2], ARGV[2], ARGV[1])
end
return 1
