-- Read many locks at once without changing them (inspect's listing), with their queues.
-- KEYS: each lock's hash, fence counter, queue and qinfo, in fours (KEYS[4i-3] .. KEYS[4i]);
-- ARGV[i]: lock i's wake-up channel prefix
-- -> { {holder..., counter, token1, info1, ...}, ... }   one per lock; pttl is -2 where there is
--    no lock, or where the key is not a lock (someone else's key under the prefix)
local out = {}
local now = now_ms()
for i = 1, #KEYS, 4 do
  local h
  if redis.call('TYPE', KEYS[i]).ok == 'hash' then
    h = holder(KEYS[i])
  else
    h = {-2, '', '', '', '', '', '', '', ''}
  end
  local c = 0
  if redis.call('TYPE', KEYS[i + 1]).ok == 'string' then
    c = counter(KEYS[i + 1])
  end
  table.insert(h, c)
  if redis.call('TYPE', KEYS[i + 2]).ok == 'zset' and redis.call('TYPE', KEYS[i + 3]).ok == 'hash' then
    local wake = ARGV[(i + 3) / 4]
    for _, t in ipairs(redis.call('ZRANGE', KEYS[i + 2], 0, -1)) do
      if waiter_alive(KEYS[i + 3], wake, t, now) then
        table.insert(h, t)
        table.insert(h, redis.call('HGET', KEYS[i + 3], t))
      end
    end
  end
  out[#out + 1] = h
end
return out
