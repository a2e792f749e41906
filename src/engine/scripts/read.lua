-- Read one lock without changing it (inspect, waiting notices), with its other holds and its
-- queue of waiters.
-- KEYS[1] lock hash, KEYS[2] fence counter, KEYS[3] queue, KEYS[4] qinfo, KEYS[5] registry of
-- the other holds; ARGV[1] wake-up channel prefix, ARGV[2] hold key prefix
-- -> {holder..., counter, mode, N, k, holder_1..., ..., holder_k..., token1, info1, ...}
--    pttl is -2 when there is no exclusive lock; mode '' when there are no other holds; nine
--    fields per hold; then the waiters still there, in order
local h = holder(KEYS[1])
table.insert(h, counter(KEYS[2]))
describe_holds(h, KEYS[5], ARGV[2])
local now = now_ms()
for _, t in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local info = waiter_alive(KEYS[4], ARGV[1], t, now)
  if info then
    table.insert(h, t)
    table.insert(h, info)
  end
end
return h
