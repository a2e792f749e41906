-- Take back an instance that lost the key (restarted empty) while it is free, with the
-- holder's metadata and fence, so a restart does not quietly shrink the quorum.
-- KEYS[1] lock hash, KEYS[2] fence counter
-- ARGV[1] token, ARGV[2] ttl ms, ARGV[3] host, ARGV[4] pid, ARGV[5] cmd, ARGV[6] since,
-- ARGV[7] count, ARGV[8] fence
-- -> 1 restored (or already ours), 0 held by another token
local current = redis.call('HGET', KEYS[1], 'token')
if current == ARGV[1] then
  -- Never shorten, as extend.lua: a longer lease (a nested holder's) stays as it is.
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return 1
end
if current then
  return 0
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'count', ARGV[7], 'host', ARGV[3], 'pid', ARGV[4],
           'cmd', ARGV[5], 'since', ARGV[6], 'ttl', ARGV[2], 'fence', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if counter(KEYS[2]) < tonumber(ARGV[8]) then
  redis.call('SET', KEYS[2], ARGV[8])
end
return 1
