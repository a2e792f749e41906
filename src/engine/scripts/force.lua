-- Break every hold of the resource whoever holds it (an operator's tool) and say whose.
-- KEYS[1] lock hash, KEYS[2] queue, KEYS[3] qinfo, KEYS[4] registry of the other holds
-- ARGV[1] release channel, ARGV[2] wake-up channel prefix, ARGV[3] hold key prefix
-- -> {1, holder..., holder..., ...}   deleted (nine fields per holder)
-- -> {2}                              free here already
local out = {1}
local function take(key)
  local h = holder(key)
  for _, v in ipairs(h) do
    table.insert(out, v)
  end
  redis.call('ZREM', KEYS[2], h[2])
  redis.call('HDEL', KEYS[3], h[2])
  redis.call('DEL', key)
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  take(KEYS[1])
end
local live = holds(KEYS[4], ARGV[3])
for _, id in pairs(live) do
  take(ARGV[3] .. id)
end
redis.call('DEL', KEYS[4])
if #out == 1 then
  return {2}
end
redis.call('PUBLISH', ARGV[1], 'released')
wake_turns(KEYS[1], KEYS[4], ARGV[3], KEYS[2], KEYS[3], ARGV[2], out[3])
return out
