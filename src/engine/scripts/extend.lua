-- Renew the lease, for the holder's token only; a renewal only ever lengthens it.
-- KEYS[1] lock hash; ARGV[1] token, ARGV[2] ttl ms
-- -> {1, count}       renewed
-- -> {2}              free here (expired, or the instance restarted empty)
-- -> {0, holder...}   held by another token
local current = redis.call('HGET', KEYS[1], 'token')
if current == ARGV[1] then
  -- Never shorten: a nested holder renewing with a shorter ttl must not cut the outer's lease.
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    redis.call('HSET', KEYS[1], 'ttl', ARGV[2])
  end
  return {1, tonumber(redis.call('HGET', KEYS[1], 'count') or '1') or 1}
end
if not current then
  return {2}
end
local h = holder(KEYS[1])
table.insert(h, 1, 0)
return h
