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
-- Returns its record when it is alive.
local function waiter_alive(qinfo, wake_prefix, token, now)
  local info = redis.call('HGET', qinfo, token)
  if not info then
    return false
  end
  local expires = tonumber(string.match(info, '^(%d+)')) or 0
  if expires < now then
    return false
  end
  return redis.call('PUBSUB', 'NUMSUB', wake_prefix .. token)[2] > 0 and info
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
-- Holds other than the exclusive lock (--shared, --limit N) each have their own hash, like the
-- lock's, at hold_prefix .. id (id: the slot number for --limit, 'r:' .. token for --shared),
-- listed in a registry hash: 'mode' -> 'shared' or 'limit', 'limit' -> N, and for each hold
-- 't:' .. token -> id. The registry never expires before a hold it lists (keep_registry).
local function keep_registry(registry, ms)
  if redis.call('PTTL', registry) < ms then
    redis.call('PEXPIRE', registry, ms)
  end
end
-- The key of `token`'s hold here and its id ('' for the exclusive lock), or nil.
local function hold_of(lock_key, registry, hold_prefix, token)
  if redis.call('HGET', lock_key, 'token') == token then
    return lock_key, ''
  end
  local id = redis.call('HGET', registry, 't:' .. token)
  if id and redis.call('HGET', hold_prefix .. id, 'token') == token then
    return hold_prefix .. id, id
  end
  return nil
end
-- The registry's live holds {token -> id} and their number; entries whose hold has gone
-- (released, expired) are dropped, and the registry with the last of them (unless read_only).
local function holds(registry, hold_prefix, read_only)
  local live, n = {}, 0
  local flat = redis.call('HGETALL', registry)
  for i = 1, #flat, 2 do
    local f = flat[i]
    if string.sub(f, 1, 2) == 't:' then
      local t, id = string.sub(f, 3), flat[i + 1]
      if redis.call('HGET', hold_prefix .. id, 'token') == t then
        live[t] = id
        n = n + 1
      elseif not read_only then
        redis.call('HDEL', registry, f)
      end
    end
  end
  if n == 0 and #flat > 0 and not read_only then
    redis.call('DEL', registry)
  end
  return live, n
end
-- What is held here: kind 'free', 'exclusive', 'shared' or 'limit'; n holds of limit N; and the
-- holding tokens (a holder may still sit in the queue for a moment after it got in).
local function held(lock_key, registry, hold_prefix)
  local ex = redis.call('HGET', lock_key, 'token')
  if ex then
    return {kind = 'exclusive', n = 1, limit = 1, holders = {[ex] = ''}}
  end
  local live, n = holds(registry, hold_prefix)
  if n == 0 then
    return {kind = 'free', n = 0, limit = 1, holders = {}}
  end
  return {kind = redis.call('HGET', registry, 'mode') or 'shared', n = n,
          limit = tonumber(redis.call('HGET', registry, 'limit')) or 1, holders = live}
end
-- A waiter's mode from its record: 'exclusive', 'shared' or 'limit', and its N.
local function waiter_mode(info)
  local m = string.match(info or '', '^[^|]*|[^|]*|[^|]*|[^|]*|([^|]*)') or 'exclusive'
  local n = tonumber(string.match(m, '^limit:(%d+)$'))
  if n then
    return 'limit', n
  end
  if m == 'shared' then
    return 'shared', 1
  end
  return 'exclusive', 1
end
-- Whether a request of `mode` fits beside what `st` holds, and entering it.
local function fits(st, mode)
  if mode == 'exclusive' then
    return st.kind == 'free'
  elseif mode == 'shared' then
    return st.kind == 'free' or st.kind == 'shared'
  end
  return st.kind == 'free' or (st.kind == 'limit' and st.n < st.limit)
end
local function enter(st, mode, limit)
  if st.kind == 'free' then
    st.kind, st.limit = mode, limit
  end
  st.n = st.n + 1
end
-- First come, first served, for every mode: walk the live waiters in order (dropping the gone,
-- passing over those that hold already), letting each in while it fits beside what `st` holds
-- and those let in before it (a run of shared waiters together, up to N with --limit N, one
-- exclusive one alone); nobody passes one that does not fit. `each(token, info)` is called for
-- each let in; a true result ends the walk. Returns the first that does not fit, if any (its
-- record too, unless nobody at all could fit any more).
local function walk(queue, qinfo, wake_prefix, st, each)
  local now = now_ms()
  local start = 0
  while true do
    local batch = redis.call('ZRANGE', queue, start, start + 15)
    if #batch == 0 then
      return nil
    end
    start = start + #batch
    for _, t in ipairs(batch) do
      if st.kind == 'exclusive' or (st.kind == 'limit' and st.n >= st.limit) then
        -- Nobody fits any more, whoever comes next.
        return t
      end
      if not st.holders[t] then
        local info = waiter_alive(qinfo, wake_prefix, t, now)
        if info then
          local mode, limit = waiter_mode(info)
          if not fits(st, mode) then
            return t, info
          end
          enter(st, mode, limit)
          if each(t, info) then
            return nil
          end
        else
          redis.call('ZREM', queue, t)
          redis.call('HDEL', qinfo, t)
          start = start - 1
        end
      end
    end
  end
end
-- Tell the waiters whose turn it now is (one message each, to them alone). `why` names the
-- event (the token that released or left): every instance sends the same, so a waiter can
-- tell the copies of one event from the next event.
local function wake_turns(lock_key, registry, hold_prefix, queue, qinfo, wake_prefix, why)
  local woken = 0
  walk(queue, qinfo, wake_prefix, held(lock_key, registry, hold_prefix), function(t)
    redis.call('PUBLISH', wake_prefix .. t, why)
    woken = woken + 1
    return woken >= 64
  end)
end
-- Append to `out` the registry's mode and N ('' and 0 when there are none), the number of live
-- holds, and each as a holder (nine fields), oldest first. Reads only: drops nothing.
local function describe_holds(out, registry, hold_prefix)
  local list = {}
  if registry then
    for _, id in pairs((holds(registry, hold_prefix, true))) do
      list[#list + 1] = holder(hold_prefix .. id)
    end
  end
  table.sort(list, function(a, b)
    return (tonumber(a[7]) or 0) < (tonumber(b[7]) or 0)
  end)
  if #list > 0 then
    table.insert(out, redis.call('HGET', registry, 'mode') or '')
    table.insert(out, tonumber(redis.call('HGET', registry, 'limit')) or 1)
  else
    table.insert(out, '')
    table.insert(out, 0)
  end
  table.insert(out, #list)
  for _, h in ipairs(list) do
    for _, v in ipairs(h) do
      table.insert(out, v)
    end
  end
end
