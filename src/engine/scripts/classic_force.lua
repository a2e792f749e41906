-- force.lua, breaking the plain key too, whoever holds it: another client's hold is listed
-- with ours, and its end wakes the waiters whose turn it is. Same KEYS (the plain key last),
-- ARGV and replies.
local value = plain_value()
local reply = op()
if value then
  local ours = false
  for i = 3, #reply, 9 do
    if reply[i] == value then
      ours = true
    end
  end
  local h = other_client(value)
  redis.call('DEL', plain)
  if not ours then
    if reply[1] == 2 then
      reply = {1}
      redis.call('PUBLISH', ARGV[1], 'released')
      wake_turns(KEYS[1], KEYS[4], ARGV[3], KEYS[2], KEYS[3], ARGV[2], value)
    end
    for _, v in ipairs(h) do
      table.insert(reply, v)
    end
  end
end
return reply
