-- Record a new holder's fence once its acquisition has concluded, only while that token holds
-- here: the counter and the hash's fence are raised to it where lower (never lowered: a late or
-- repeated record changes nothing). Awaited on a quorum when the quorum's counters disagreed
-- (so any later holder's quorum reads a counter at least this high); otherwise sent without
-- waiting, as the mark that the holder has finished (`fence` no longer 0).
-- With ARGV[4] '1' (a claim, for holds that may have company: --shared, --limit), the fence
-- must also be ours alone: refused where the counter is past it, or at it for another token.
-- KEYS[1] lock hash, KEYS[2] fence counter, KEYS[3] registry of the other holds, KEYS[4] who
-- the counter's last fence went to; ARGV[1] token, ARGV[2] fence, ARGV[3] hold key prefix,
-- ARGV[4] '1' to claim
-- -> {1} recorded, {0, counter} not ours here (no hold, or the fence is another's)
local key = hold_of(KEYS[1], KEYS[3], ARGV[3], ARGV[1])
local fence = tonumber(ARGV[2])
local c = counter(KEYS[2])
if not key then
  return {0, c}
end
if ARGV[4] == '1' and (c > fence or (c == fence and redis.call('GET', KEYS[4]) ~= ARGV[1])) then
  return {0, c}
end
if c < fence then
  redis.call('SET', KEYS[2], ARGV[2])
  if ARGV[4] == '1' then
    redis.call('SET', KEYS[4], ARGV[1])
  end
end
if (tonumber(redis.call('HGET', key, 'fence') or '0') or 0) < fence then
  redis.call('HSET', key, 'fence', ARGV[2])
end
return {1}
