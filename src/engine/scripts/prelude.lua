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
-- The server's clock in milliseconds (scripts replicate their effects, so TIME is allowed).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The queue of waiters: a sorted set of tokens by arrival (KEYS queue), and a hash token ->
-- 'expires_ms|host|pid|since_ms|mode|cmd' (KEYS qinfo). A waiter is alive while its
-- registration has not expired and it listens on its wake-up channel (wake_prefix .. token):
-- a process that dies closes its connections, and its subscriptions go with them.
local function waiter_alive(qinfo, wake_prefix, token, now)
  local info = redis.call('HGET', qinfo, token)
  if not info then
    return false
  end
  local expires = tonumber(string.match(info, '^(%d+)')) or 0
  if expires < now then
    return false
  end
  return redis.call('PUBSUB', 'NUMSUB', wake_prefix .. token)[2] > 0
end
-- Drop the waiters that are gone.
local function prune(queue, qinfo, wake_prefix)
  local now = now_ms()
  for _, t in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
    if not waiter_alive(qinfo, wake_prefix, t, now) then
      redis.call('ZREM', queue, t)
      redis.call('HDEL', qinfo, t)
    end
  end
end
-- The first waiter still there, or nil.
local function head(queue, qinfo, wake_prefix)
  prune(queue, qinfo, wake_prefix)
  return redis.call('ZRANGE', queue, 0, 0)[1]
end
-- Tell the waiter whose turn it is (one message, not one per waiter).
local function wake_next(queue, qinfo, wake_prefix)
  local h = head(queue, qinfo, wake_prefix)
  if h then
    redis.call('PUBLISH', wake_prefix .. h, 'turn')
  end
end
