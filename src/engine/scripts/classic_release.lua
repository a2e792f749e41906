-- release.lua, with the plain key following the side hash: kept while holds remain (or for
-- --min-hold), deleted with the last, and only while its value is our token. Another client's
-- hold is left alone, and said. Same KEYS (the plain key last), ARGV and replies.
local reply = op()
mirror(ARGV[1])
if reply[1] == 2 then
  local value = plain_value()
  if value and value ~= ARGV[1] then
    return busy_reply(value)
  end
end
return reply
