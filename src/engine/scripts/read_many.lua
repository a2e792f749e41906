-- Read many locks at once without changing them (inspect's listing).
-- KEYS: each lock's hash and fence counter, in pairs (KEYS[2i-1], KEYS[2i])
-- -> { {holder..., counter}, ... }   one per pair; pttl is -2 where there is no lock, or where
--                                   the key is not a lock (someone else's key under the prefix)
local out = {}
for i = 1, #KEYS, 2 do
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
  out[#out + 1] = h
end
return out
