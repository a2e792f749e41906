-- Renew the lease of the token's hold; a renewal only ever lengthens it.
-- KEYS[1] lock hash, KEYS[2] registry of the other holds; ARGV[1] token, ARGV[2] ttl ms,
-- ARGV[3] hold key prefix, ARGV[4] the hold's id ('*': whichever the token has; another hold of
-- the token, a leftover of an attempt, is dropped rather than counted)
-- -> {1, count, id}   renewed
-- -> {2}              no hold of ours here (expired, or the instance restarted empty)
-- -> {0, holder...}   held by another token
local key, id = hold_of(KEYS[1], KEYS[2], ARGV[3], ARGV[1])
if key and ARGV[4] ~= '*' and id ~= ARGV[4] then
  redis.call('DEL', key)
  redis.call('HDEL', KEYS[2], 't:' .. ARGV[1])
  key = nil
end
if key then
  -- Never shorten: a nested holder renewing with a shorter ttl must not cut the outer's lease.
  if redis.call('PTTL', key) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', key, ARGV[2])
    redis.call('HSET', key, 'ttl', ARGV[2])
  end
  if id ~= '' then
    keep_registry(KEYS[2], tonumber(ARGV[2]))
  end
  return {1, tonumber(redis.call('HGET', key, 'count') or '1') or 1, id}
end
-- Not ours: who has the lock, or the slot we had.
local other = nil
if redis.call('EXISTS', KEYS[1]) == 1 then
  other = KEYS[1]
else
  local had = redis.call('HGET', KEYS[2], 't:' .. ARGV[1])
  if had and redis.call('EXISTS', ARGV[3] .. had) == 1 then
    other = ARGV[3] .. had
  end
end
if not other then
  return {2}
end
local h = holder(other)
table.insert(h, 1, 0)
return h
