-- Drop one hold of the holder's token; the key goes when no hold is left, and the waiter whose
-- turn it is hears it (one message on its own channel; waiters of older versions listen on the
-- release channel, which hears it too).
-- KEYS[1] lock hash, KEYS[2] queue, KEYS[3] qinfo; ARGV[1] token, ARGV[2] keep ms (--min-hold:
-- what is left of it, or 0), ARGV[3] release channel, ARGV[4] wake-up channel prefix ('' for an
-- attempt's undo, which wakes nobody)
-- -> {1, count}       released one hold; count holds remain (0: gone, or kept for --min-hold)
-- -> {2}              free here already
-- -> {0, holder...}   held by another token: untouched
local current = redis.call('HGET', KEYS[1], 'token')
if not current then
  return {2}
end
if current ~= ARGV[1] then
  local h = holder(KEYS[1])
  table.insert(h, 1, 0)
  return h
end
local count = redis.call('HINCRBY', KEYS[1], 'count', -1)
if count > 0 then
  return {1, count}
end
local keep = tonumber(ARGV[2]) or 0
if keep > 0 then
  -- --min-hold: nobody holds it any more, but it stays taken until DUR after acquisition.
  redis.call('HSET', KEYS[1], 'count', 0)
  redis.call('PEXPIRE', KEYS[1], keep)
  return {1, 0}
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[3], 'released')
if ARGV[4] ~= '' then
  -- A holder that came through the queue may still be in it (it stops listening on its
  -- wake-up channel a moment after it got the lock): it is not next.
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  wake_next(KEYS[2], KEYS[3], ARGV[4], ARGV[1])
end
return {1, 0}
