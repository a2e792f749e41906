-- Join the resource's queue of waiters, or renew our place in it, and say where we stand. Each
-- call does a constant amount of work, whatever the queue's length (O(log K) sorted-set steps):
-- it never walks the queue.
-- KEYS[1] queue (sorted set), KEYS[2] qinfo (hash), KEYS[3] qexp (sorted set: token -> when its
-- registration lapses, unix ms)
-- ARGV[1] token, ARGV[2] registration lifetime ms, ARGV[3] wake-up channel prefix,
-- ARGV[4] host, ARGV[5] pid, ARGV[6] since (unix ms), ARGV[7] mode, ARGV[8] cmd
-- -> {place, length, head token, head info}   place 0: next in line
local queue, qinfo, qexp, token = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Every renewal drops up to eight registrations that lapsed (a waiter stopped or gone without
-- leaving): the queue is cleaned by its own renewals, a little each time, never walked.
-- ZRANGE BYSCORE (Redis 6.2) is what an ACL written for earlier versions allows; then
-- ZRANGEBYSCORE; where neither may run, lapsed waiters are dropped at the head only.
local ok, lapsed = pcall(redis.call, 'ZRANGE', qexp, '-inf', now, 'BYSCORE', 'LIMIT', 0, 8)
if not ok then
  ok, lapsed = pcall(redis.call, 'ZRANGEBYSCORE', qexp, '-inf', now, 'LIMIT', 0, 8)
end
for _, gone in ipairs(ok and lapsed or {}) do
  redis.call('ZREM', queue, gone)
  redis.call('HDEL', qinfo, gone)
  redis.call('ZREM', qexp, gone)
end
local lifetime = tonumber(ARGV[2])
local expires = now + lifetime
-- Arrival in microseconds of this server's clock; NX keeps a renewing waiter's place.
redis.call('ZADD', queue, 'NX', tonumber(t[1]) * 1000000 + tonumber(t[2]), token)
redis.call('ZADD', qexp, expires, token)
-- The record keeps its 'expires' field first, as older versions read it.
redis.call('HSET', qinfo, token,
           expires .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|' .. ARGV[7] .. '|' .. ARGV[8])
-- An abandoned queue goes by itself a while after its last registration.
for _, k in ipairs({queue, qinfo, qexp}) do
  redis.call('PEXPIRE', k, lifetime * 4)
end
local place = redis.call('ZRANK', queue, token)
local first = redis.call('ZRANGE', queue, 0, 0)[1]
local info = redis.call('HGET', qinfo, first)
-- Second in line: whether the head is still there (a waiter that died no longer listens on
-- its channel) is one look, and it makes us the head at once instead of after its lapse.
if place == 1 and not waiter_alive(qinfo, ARGV[3], first, now) then
  redis.call('ZREM', queue, first)
  redis.call('HDEL', qinfo, first)
  redis.call('ZREM', qexp, first)
  place, first, info = 0, token, false
end
return {place, redis.call('ZCARD', queue), first, info}
