-- extend.lua, renewing the plain key with the side hash, only while its value is our token.
-- Same KEYS (the plain key last), ARGV and replies.
local value = plain_value()
if value and value ~= ARGV[1] then
  return busy_reply(value)
end
local reply = op()
if reply[1] == 1 then
  mirror(ARGV[1])
end
return reply
