-- Take back an instance that lost the hold (restarted empty) while there is room for it, with
-- the holder's metadata and fence, so a restart does not quietly shrink the quorum.
-- KEYS[1] lock hash, KEYS[2] fence counter, KEYS[3] registry of the other holds, KEYS[4] who
-- the counter's last fence went to
-- ARGV[1] token, ARGV[2] ttl ms, ARGV[3] host, ARGV[4] pid, ARGV[5] cmd, ARGV[6] since,
-- ARGV[7] count, ARGV[8] fence, ARGV[9] mode, ARGV[10] N, ARGV[11] the hold's id ('' for the
-- exclusive lock), ARGV[12] hold key prefix (built in this order by `restore_argv` in
-- src/engine/lock/argv.rs)
-- -> 1 restored (or already ours), 0 held by others (no room)
local token, mode, limit, id, prefix = ARGV[1], ARGV[9], tonumber(ARGV[10]) or 1, ARGV[11], ARGV[12]
local key, had = hold_of(KEYS[1], KEYS[3], prefix, token)
if key and had ~= id then
  -- Another hold of ours (a leftover of an attempt): not the one we hold on a quorum.
  redis.call('DEL', key)
  redis.call('HDEL', KEYS[3], 't:' .. token)
  key = nil
end
if key then
  -- Never shorten, as extend.lua: a longer lease (a nested holder's) stays as it is.
  if redis.call('PTTL', key) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', key, ARGV[2])
  end
  return 1
end
local st = held(KEYS[1], KEYS[3], prefix)
if st.kind ~= 'free' and (not fits(st, mode) or (mode == 'limit' and st.limit ~= limit)) then
  return 0
end
key = id == '' and KEYS[1] or prefix .. id
if redis.call('EXISTS', key) == 1 then
  return 0
end
redis.call('HSET', key, 'token', token, 'count', ARGV[7], 'host', ARGV[3], 'pid', ARGV[4],
           'cmd', ARGV[5], 'since', ARGV[6], 'ttl', ARGV[2], 'fence', ARGV[8])
redis.call('PEXPIRE', key, ARGV[2])
if id ~= '' then
  redis.call('HSET', KEYS[3], 'mode', mode, 'limit', mode == 'limit' and limit or 1, 't:' .. token, id)
  keep_registry(KEYS[3], tonumber(ARGV[2]))
end
if counter(KEYS[2]) < tonumber(ARGV[8]) then
  redis.call('SET', KEYS[2], ARGV[8])
  if id ~= '' then
    redis.call('SET', KEYS[4], token)
  end
end
return 1
