-- restore.lua, only where the plain key is free (or ours). Same KEYS (the plain key last),
-- ARGV and replies.
local value = plain_value()
if value and value ~= ARGV[1] then
  return 0
end
local reply = op()
if reply == 1 then
  mirror(ARGV[1])
end
return reply
