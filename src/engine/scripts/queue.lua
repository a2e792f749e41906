-- Join the resource's queue of waiters, or renew our place in it, and say where we stand.
-- KEYS[1] queue (sorted set), KEYS[2] qinfo (hash)
-- ARGV[1] token, ARGV[2] registration lifetime ms, ARGV[3] wake-up channel prefix,
-- ARGV[4] host, ARGV[5] pid, ARGV[6] since (unix ms), ARGV[7] mode, ARGV[8] cmd
-- -> {place, length, head token, head info}   place 0: next in line
-- The waiters gone from in front of us no longer count toward our place (one check per
-- waiter ahead: this runs once a second per waiter, not per handoff).
local ours = redis.call('ZRANK', KEYS[1], ARGV[1])
if ours and ours > 0 then
  prune(KEYS[1], KEYS[2], ARGV[3], ours - 1)
end
local t = redis.call('TIME')
-- Arrival in microseconds of this server's clock; NX keeps a renewing waiter's place.
redis.call('ZADD', KEYS[1], 'NX', tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
local lifetime = tonumber(ARGV[2])
local expires = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + lifetime
redis.call('HSET', KEYS[2], ARGV[1],
           expires .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|' .. ARGV[7] .. '|' .. ARGV[8])
-- An abandoned queue goes by itself a while after its last registration.
redis.call('PEXPIRE', KEYS[1], lifetime * 4)
redis.call('PEXPIRE', KEYS[2], lifetime * 4)
local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
return {redis.call('ZRANK', KEYS[1], ARGV[1]), redis.call('ZCARD', KEYS[1]), first,
        redis.call('HGET', KEYS[2], first)}
