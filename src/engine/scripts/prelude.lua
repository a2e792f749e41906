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
-- Drop the waiters that are gone among the first `upto` (-1: all).
local function prune(queue, qinfo, wake_prefix, upto)
  local now = now_ms()
  for _, t in ipairs(redis.call('ZRANGE', queue, 0, upto)) do
    if not waiter_alive(qinfo, wake_prefix, t, now) then
      redis.call('ZREM', queue, t)
      redis.call('HDEL', qinfo, t)
    end
  end
end
-- The first waiter still there, or nil. Only the gone ones in front are dropped, so the cost
-- is one check per waiter that left, not one per waiter (a handoff stays constant in work).
local function head(queue, qinfo, wake_prefix)
  local now = now_ms()
  while true do
    local first = redis.call('ZRANGE', queue, 0, 0)[1]
    if not first or waiter_alive(qinfo, wake_prefix, first, now) then
      return first
    end
    redis.call('ZREM', queue, first)
    redis.call('HDEL', qinfo, first)
  end
end
-- Tell the waiter whose turn it is (one message, not one per waiter). `why` names the event
-- (the token that released or left): every instance sends the same, so the waiter can tell
-- the copies of one event from the next event.
local function wake_next(queue, qinfo, wake_prefix, why)
  local h = head(queue, qinfo, wake_prefix)
  if h then
    redis.call('PUBLISH', wake_prefix .. h, why)
  end
end
