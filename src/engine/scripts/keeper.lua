-- The keeper of a kept hold (`redlock acquire` without --no-keep): its mark on the hold, and
-- every hold's mark read back for inspect. The mark is a field of the hold's own hash, so it
-- lives and ends with the hold (a re-entry keeps it; the last release deletes it).
-- KEYS[1] lock hash, KEYS[2] registry of the other holds
-- ARGV[1] 'mark' or 'read', ARGV[2] hold key prefix; for 'mark': ARGV[3] token, ARGV[4] the
-- keeper's pid (on the holder's host)
-- -> mark: 1 marked, 0 no hold of that token here
-- -> read: {token1, keeper1, token2, keeper2, ...} for each hold here that has a keeper
if ARGV[1] == 'mark' then
  local key = hold_of(KEYS[1], KEYS[2], ARGV[2], ARGV[3])
  if not key then
    return 0
  end
  redis.call('HSET', key, 'keeper', ARGV[4])
  return 1
end
local out = {}
local function add(key)
  local h = redis.call('HMGET', key, 'token', 'keeper')
  if h[1] and h[2] then
    table.insert(out, h[1])
    table.insert(out, h[2])
  end
end
add(KEYS[1])
for _, id in pairs((holds(KEYS[2], ARGV[2], true))) do
  add(ARGV[2] .. id)
end
return out
