-- Take a hold, re-enter ours, or say who holds it (or, on the instance that decides, whose
-- turn it is).
-- KEYS[1] lock hash (the exclusive hold), KEYS[2] fence counter (outlives the lock), KEYS[3]
-- queue, KEYS[4] qinfo, KEYS[5] registry of the other holds, KEYS[6] who the counter's last
-- fence went to, KEYS[7] since when this instance remembers the resource (unix ms)
-- ARGV[1] token, ARGV[2] ttl ms, ARGV[3] host, ARGV[4] pid, ARGV[5] cmd, ARGV[6] since (unix ms),
-- ARGV[7] wake-up channel prefix, ARGV[8] '1' on the resource's decider (the queue's home),
-- ARGV[9] mode ('exclusive', 'shared' or 'limit'), ARGV[10] N, ARGV[11] the slot to try first
-- (--limit; '=i': slot i or none), ARGV[12] hold key prefix
-- (built by name, in this order, by `AcquireArgs::argv` in src/engine/lock/argv.rs; the replies
-- below are decoded by `acquire_reply` in src/engine/lock/replies.rs)
-- -> {1, fence, id, up}      taken: fence is this instance's counter + 1, which the counter now
--                            holds, and the hash keeps as `pending`; id '' for the exclusive
--                            lock, else the hold's id; up: how long this instance has remembered
--                            the resource (ms)
-- -> {2, count, fence, id, N}  re-entered: already ours, hold count now `count` (the hold
--                            keeps its own mode: id and N say which)
-- -> {0, holder..., [kind, k, N]}  held by another token (one of them; beside the exclusive
--                            lock, what is held: 'shared' or 'limit', k holds, N)
-- -> {3, token, record, kind, k, N}  there is room for us (free, or k holds of `kind` with
--                            N), but this decides and another waiter goes first
-- -> {4, N, holder...}       held with another --limit N (shared and exclusive holds: N = 1)
local token, mode, limit, prefix = ARGV[1], ARGV[9], tonumber(ARGV[10]) or 1, ARGV[12]
local lock_key, registry = KEYS[1], KEYS[5]

local function reply_holder(status, key, ...)
  local h = holder(key)
  for i, v in ipairs({status, ...}) do
    table.insert(h, i, v)
  end
  return h
end

-- Our token with fence 0 is no hold of ours: an attempt that never finished (its undo was
-- overtaken on another connection, say). It is dropped and taken afresh rather than called a
-- re-entry. (A holder's fence is recorded right after its acquisition concluded, on the
-- connections its acquisition used, before its command starts: a nested holder's re-entry comes
-- after it.)
local st = held(lock_key, registry, prefix)
local id = st.holders[token]
if id then
  local key = id == '' and lock_key or prefix .. id
  local fence = tonumber(redis.call('HGET', key, 'fence') or '0') or 0
  if fence ~= 0 then
    local count = redis.call('HINCRBY', key, 'count', 1)
    -- A nested holder never shortens the outer holder's lease.
    if redis.call('PTTL', key) < tonumber(ARGV[2]) then
      redis.call('PEXPIRE', key, ARGV[2])
    end
    if id ~= '' then
      keep_registry(registry, tonumber(ARGV[2]))
    end
    return {2, count, fence, id, st.limit}
  end
  redis.call('DEL', key)
  if id ~= '' then
    redis.call('HDEL', registry, 't:' .. token)
  end
  st.holders[token] = nil
  st.n = st.n - 1
  if st.n == 0 then
    st.kind, st.limit = 'free', 1
  end
end
local function any_hold()
  if st.kind == 'exclusive' then
    return lock_key
  end
  for _, hid in pairs(st.holders) do
    return prefix .. hid
  end
end
-- Held by others: one of them, and (beside the exclusive lock) the kind, k holds and N.
local function busy()
  local h = reply_holder(0, any_hold())
  if st.kind ~= 'exclusive' then
    table.insert(h, st.kind)
    table.insert(h, st.n)
    table.insert(h, st.limit)
  end
  return h
end
if st.kind ~= 'free' then
  -- Every holder of a resource uses the same N (exclusive and shared holds: 1).
  local theirs = st.kind == 'limit' and st.limit or 1
  local ours = mode == 'limit' and limit or 1
  if theirs ~= ours then
    return reply_holder(4, any_hold(), theirs)
  end
  if not fits(st, mode) then
    return busy()
  end
end

-- The hold to take: the lock itself; our own (--shared); the slot asked for, or the next free
-- one (--limit).
local take_id = ''
if mode == 'shared' then
  take_id = 'r:' .. token
elseif mode == 'limit' then
  local used = {}
  for _, hid in pairs(st.holders) do
    used[hid] = true
  end
  -- '=i': slot i alone (an attempt completing the slot it holds elsewhere).
  local only = string.sub(ARGV[11], 1, 1) == '='
  local first = tonumber(only and string.sub(ARGV[11], 2) or ARGV[11]) or 0
  for k = 0, only and 0 or limit - 1 do
    local s = tostring((first + k) % limit)
    if not used[s] and redis.call('EXISTS', prefix .. s) == 0 then
      take_id = s
      break
    end
  end
end
if mode == 'limit' and take_id == '' then
  return busy()
end
local take_key = take_id == '' and lock_key or prefix .. take_id

if ARGV[8] == '1' then
  -- First come, first served: where the queue decides, what is free goes to the waiters
  -- whose turn it is (see `walk`), and to us only if we are one of them, or not queued and
  -- it still fits after them. Elsewhere the queue is not consulted: the decider already
  -- turned away whoever's turn it is not, and a quorum is what holds.
  local kind, n_held, n_limit = st.kind, st.n, st.limit
  local ours, first_t, first_info = false, nil, nil
  local blocked_t, blocked_info = walk(KEYS[3], KEYS[4], ARGV[7], st, function(t, info)
    if t == token then
      ours = true
      return true
    end
    first_t, first_info = first_t or t, first_info or info
    return false
  end)
  if not ours and (blocked_t or not fits(st, mode)) then
    if first_t then
      return {3, first_t, first_info, kind, n_held, n_limit}
    end
    return {3, blocked_t or '', blocked_info or '', kind, n_held, n_limit}
  end
end

-- Our place in the queue stays while we wait: an attempt that fails elsewhere keeps it.
-- Once we hold we stop listening on our wake-up channel, and the queue drops us.
-- Hand out the next fence here and now (one-round acquisition: `fencing` in
-- engine/lock/fence.rs says when it may be used as it is). If the attempt fails, the
-- counter stays bumped with no holder: a gap, which is harmless, as fences need only rise.
local fence = counter(KEYS[2]) + 1
redis.call('SET', KEYS[2], fence)
if mode ~= 'exclusive' then
  -- Whose it is, for fence claims (fence.lua): only holds that may have company claim.
  redis.call('SET', KEYS[6], token)
end
redis.call('DEL', take_key)
-- `fence` stays 0 until the acquisition has concluded (fence.lua records it): until then
-- this is a contender that has not finished, which the decider and waiters tell apart.
redis.call('HSET', take_key, 'token', token, 'count', 1, 'host', ARGV[3], 'pid', ARGV[4],
           'cmd', ARGV[5], 'since', ARGV[6], 'ttl', ARGV[2], 'fence', 0, 'pending', fence)
redis.call('PEXPIRE', take_key, ARGV[2])
if take_id ~= '' then
  redis.call('HSET', registry, 'mode', mode, 'limit', mode == 'limit' and limit or 1,
             't:' .. token, take_id)
  keep_registry(registry, tonumber(ARGV[2]))
end
-- Since when this instance remembers the resource: one that restarted empty lately may have
-- forgotten a hold that is still running (see `distrust_restarted` in engine/lock/ask.rs).
-- KEYS[7] is written by the first acquisition here and never expires, so a wipe renews it.
local now = now_ms()
local born = tonumber(redis.call('GET', KEYS[7]) or '')
if not born then
  born = now
  redis.call('SET', KEYS[7], now)
end
return {1, fence, take_id, now - born}
