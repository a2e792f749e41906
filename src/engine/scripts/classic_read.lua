-- read.lua, where the plain key says who holds the lock: another client's hold replaces the
-- holder (ours keep their metadata), and a side hash the plain key no longer backs is no hold.
-- Same KEYS (the plain key last), ARGV and replies.
local reply = op()
local value = plain_value()
if value ~= reply[2] then
  local h = value and other_client(value) or {-2, '', '', '', '', '', '', '', ''}
  for i = 1, 9 do
    reply[i] = h[i]
  end
end
return reply
