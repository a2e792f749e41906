-- Take the lock, re-enter it, or say who holds it (or, on the instance that decides, whose
-- turn it is).
-- KEYS[1] lock hash, KEYS[2] fence counter (outlives the lock), KEYS[3] queue, KEYS[4] qinfo
-- ARGV[1] token, ARGV[2] ttl ms, ARGV[3] host, ARGV[4] pid, ARGV[5] cmd, ARGV[6] since (unix ms),
-- ARGV[7] wake-up channel prefix, ARGV[8] '1' on the resource's decider (the queue's home)
-- -> {1, fence}            taken: it was free; fence is this instance's counter + 1, which the
--                          counter now holds, and the hash keeps as `pending`
-- -> {2, count, fence}     re-entered: already ours, hold count now `count`
-- -> {0, holder...}        held by another token
-- -> {3, token, record}    free, but this decides and another waiter is first in the queue
local current = redis.call('HGET', KEYS[1], 'token')
-- Our token with fence 0 is no hold of ours: an attempt that never finished (its undo was
-- overtaken on another connection, say). Take it afresh rather than call it a re-entry.
-- (A holder's fence is recorded right after its acquisition concluded, on the connections its
-- acquisition used, before its command starts: a nested holder's re-entry comes after it.)
local leftover = false
if current == ARGV[1] and (tonumber(redis.call('HGET', KEYS[1], 'fence') or '0') or 0) == 0 then
  current = false
  leftover = true
end
if not current then
  -- First come, first served: where the queue decides, a free lock goes to its head only
  -- (anyone when nobody waits). Elsewhere the queue is not consulted: the decider already
  -- turned away whoever's turn it is not, and a quorum is what holds.
  if ARGV[8] == '1' then
    local first = head(KEYS[3], KEYS[4], ARGV[7])
    if first and first ~= ARGV[1] then
      -- Not our turn: and a leftover of ours goes too, or it would stand in the head's way.
      if leftover then
        redis.call('DEL', KEYS[1])
      end
      return {3, first, redis.call('HGET', KEYS[4], first)}
    end
  end
  -- Our place in the queue stays while we wait: an attempt that fails elsewhere keeps it.
  -- Once we hold the lock we stop listening on our wake-up channel, and the queue drops us.
  -- Hand out the next fence here and now (one-round acquisition: `conclude` in
  -- engine/lock/acquire.rs says when it may be used as it is). If the attempt fails, the
  -- counter stays bumped with no holder: a gap, which is harmless, as fences need only rise.
  local fence = counter(KEYS[2]) + 1
  redis.call('SET', KEYS[2], fence)
  redis.call('DEL', KEYS[1])
  -- `fence` stays 0 until the acquisition has concluded (fence.lua records it): until then
  -- this is a contender that has not finished, which the decider and waiters tell apart.
  redis.call('HSET', KEYS[1], 'token', ARGV[1], 'count', 1, 'host', ARGV[3], 'pid', ARGV[4],
             'cmd', ARGV[5], 'since', ARGV[6], 'ttl', ARGV[2], 'fence', 0, 'pending', fence)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, fence}
end
if current == ARGV[1] then
  local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
  -- A nested holder never shortens the outer holder's lease.
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return {2, count, tonumber(redis.call('HGET', KEYS[1], 'fence') or '0') or 0}
end
local h = holder(KEYS[1])
table.insert(h, 1, 0)
return h
