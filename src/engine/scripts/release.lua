-- Drop one hold of the holder's token; its key goes when no hold is left, and the waiters
-- whose turn that makes it hear it (one message each, on their own channels; waiters of older
-- versions listen on the release channel, which hears it too).
-- KEYS[1] lock hash, KEYS[2] queue, KEYS[3] qinfo, KEYS[4] registry of the other holds
-- ARGV[1] token, ARGV[2] keep ms (--min-hold: what is left of it, or 0), ARGV[3] release
-- channel, ARGV[4] wake-up channel prefix ('' for an attempt's undo, which wakes nobody),
-- ARGV[5] hold key prefix
-- -> {1, count}       released one hold; count holds remain (0: gone, or kept for --min-hold)
-- -> {2}              no hold of ours here
-- -> {0, holder...}   the lock is held by another token: untouched
local key, id = hold_of(KEYS[1], KEYS[4], ARGV[5], ARGV[1])
if not key then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    local h = holder(KEYS[1])
    table.insert(h, 1, 0)
    return h
  end
  return {2}
end
local count = redis.call('HINCRBY', key, 'count', -1)
if count > 0 then
  return {1, count}
end
local keep = tonumber(ARGV[2]) or 0
if keep > 0 then
  -- --min-hold: nobody holds it any more, but it stays taken until DUR after acquisition.
  redis.call('HSET', key, 'count', 0)
  redis.call('PEXPIRE', key, keep)
  return {1, 0}
end
redis.call('DEL', key)
if id ~= '' then
  redis.call('HDEL', KEYS[4], 't:' .. ARGV[1])
end
redis.call('PUBLISH', ARGV[3], 'released')
if ARGV[4] ~= '' then
  -- A holder that came through the queue may still be in it (it stops listening on its
  -- wake-up channel a moment after it got the lock): it is not next.
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  wake_turns(KEYS[1], KEYS[4], ARGV[5], KEYS[2], KEYS[3], ARGV[4], ARGV[1])
end
return {1, 0}
