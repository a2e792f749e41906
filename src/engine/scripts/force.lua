-- Break the lock whoever holds it (an operator's tool) and say who did.
-- KEYS[1] lock hash, KEYS[2] queue, KEYS[3] qinfo; ARGV[1] release channel, ARGV[2] wake-up
-- channel prefix
-- -> {1, holder...}   deleted
-- -> {2}              free here already
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {2}
end
local h = holder(KEYS[1])
redis.call('ZREM', KEYS[2], h[2])
redis.call('HDEL', KEYS[3], h[2])
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], 'released')
wake_next(KEYS[2], KEYS[3], ARGV[2], h[2])
table.insert(h, 1, 1)
return h
