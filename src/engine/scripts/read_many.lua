-- Read many locks at once without changing them (inspect's listing), with their other holds
-- and their queues.
-- KEYS: each lock's hash, fence counter, queue, qinfo and registry, in fives (KEYS[5i-4] ..
-- KEYS[5i]); ARGV[2i-1]: lock i's wake-up channel prefix, ARGV[2i]: its hold key prefix
-- -> { {as read.lua}, ... }   one per lock; pttl is -2 where there is no lock, or where the key
--    is not a lock (someone else's key under the prefix)
local out = {}
local now = now_ms()
for i = 1, #KEYS, 5 do
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
  local j = (i + 4) / 5
  if redis.call('TYPE', KEYS[i + 4]).ok == 'hash' then
    describe_holds(h, KEYS[i + 4], ARGV[2 * j])
  else
    describe_holds(h, nil, nil)
  end
  if redis.call('TYPE', KEYS[i + 2]).ok == 'zset' and redis.call('TYPE', KEYS[i + 3]).ok == 'hash' then
    local wake = ARGV[2 * j - 1]
    for _, t in ipairs(redis.call('ZRANGE', KEYS[i + 2], 0, -1)) do
      local info = waiter_alive(KEYS[i + 3], wake, t, now)
      if info then
        table.insert(h, t)
        table.insert(h, info)
      end
    end
  end
  out[#out + 1] = h
end
return out
