-- Shared by every script. The lock is a hash at KEYS[1]:
--   token, count (holds of that token), host, pid, cmd, since (unix ms), ttl (ms), fence
--   (0 until the holder finished acquiring), pending (the fence this instance handed out).
-- A holder is described as the array {pttl, token, count, host, pid, cmd, since, fence, ttl};
-- missing fields become '' so the array is never cut short by a Lua nil.
local function holder(key)
  local h = redis.call('HMGET', key, 'token', 'count', 'host', 'pid', 'cmd', 'since', 'fence', 'ttl')
  return {redis.call('PTTL', key), h[1] or '', h[2] or '', h[3] or '', h[4] or '', h[5] or '',
          h[6] or '', h[7] or '', h[8] or ''}
end
local function counter(key)
  return tonumber(redis.call('GET', key) or '0') or 0
end
