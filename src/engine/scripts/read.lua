-- Read one lock without changing it (inspect, waiting notices), with its queue of waiters.
-- KEYS[1] lock hash, KEYS[2] fence counter, KEYS[3] queue, KEYS[4] qinfo; ARGV[1] wake-up
-- channel prefix
-- -> {holder..., counter, token1, info1, token2, info2, ...}   pttl is -2 when there is no lock;
--    the waiters still there, in order
local h = holder(KEYS[1])
table.insert(h, counter(KEYS[2]))
local now = now_ms()
for _, t in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if waiter_alive(KEYS[4], ARGV[1], t, now) then
    table.insert(h, t)
    table.insert(h, redis.call('HGET', KEYS[4], t))
  end
end
return h
