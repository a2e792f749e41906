-- Take the lock, re-enter it, or say who holds it.
-- KEYS[1] lock hash, KEYS[2] fence counter (outlives the lock)
-- ARGV[1] token, ARGV[2] ttl ms, ARGV[3] host, ARGV[4] pid, ARGV[5] cmd, ARGV[6] since (unix ms)
-- -> {1, fence}            taken: it was free; fence is this instance's counter + 1, which the
--                          counter now holds, and the hash keeps as `pending`
-- -> {2, count, fence}     re-entered: already ours, hold count now `count`
-- -> {0, holder...}        held by another token
local current = redis.call('HGET', KEYS[1], 'token')
-- Our token with fence 0 is no hold of ours: an attempt that never finished (its undo was
-- overtaken on another connection, say). Take it afresh rather than call it a re-entry.
-- (A holder's fence is recorded right after its acquisition concluded, on the connections its
-- acquisition used, before its command starts: a nested holder's re-entry comes after it.)
if current == ARGV[1] and (tonumber(redis.call('HGET', KEYS[1], 'fence') or '0') or 0) == 0 then
  current = false
end
if not current then
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
