-- acquire.lua, where the plain key is free or already ours: `SET NX PX` semantics, and a
-- library's hold keeps us out as another token's would. Same KEYS (the plain key last), ARGV
-- and replies.
local value = plain_value()
if value and value ~= ARGV[1] then
  return busy_reply(value)
end
local reply = op()
if reply[1] == 1 or reply[1] == 2 then
  mirror(ARGV[1])
end
return reply
