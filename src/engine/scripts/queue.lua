-- Join the resource's queue of waiters, or renew our place in it, and say where we stand. Each
-- call does a constant amount of work, whatever the queue's length (O(log K) sorted-set steps):
-- it never walks the queue. A waiter far back costs four commands a renewal (this script,
-- TIME, ZADD, ZRANK); the few near the head also clean up after the waiters that are gone.
-- KEYS[1] queue (sorted set), KEYS[2] qinfo (hash), KEYS[3] qexp (sorted set: token -> when its
-- registration lapses, unix ms)
-- ARGV[1] token, ARGV[2] registration lifetime ms, ARGV[3] wake-up channel prefix,
-- ARGV[4] host, ARGV[5] pid, ARGV[6] since (unix ms), ARGV[7] mode, ARGV[8] cmd
-- -> {place, length}   place 0: next in line; length only near the head, where it is cheap to
--                        keep true; -1 elsewhere
local queue, qinfo, qexp, token = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lifetime = tonumber(ARGV[2])
-- When our registration lapses lives in qexp alone; ZADD says whether we are new here.
local joined = redis.call('ZADD', qexp, now + lifetime, token) == 1
local place = not joined and redis.call('ZRANK', queue, token)
if not place then
  -- New here, back after a lapse, or passed over as gone: at the end of the line.
  -- Arrival in microseconds of this server's clock.
  redis.call('ZADD', queue, 'NX', tonumber(t[1]) * 1000000 + tonumber(t[2]), token)
  -- The record is written once. Its first field, when it lapses, is for versions before
  -- qexp, which read it: a day on, so they go by the waiter's subscription alone.
  redis.call('HSET', qinfo, token, (now + 86400000) .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' ..
             ARGV[6] .. '|' .. ARGV[7] .. '|' .. ARGV[8])
  place = redis.call('ZRANK', queue, token)
end
if place >= 8 then
  return {place, -1}
end
-- Near the head: drop up to eight waiters whose registration lapsed (stopped or gone without
-- leaving), anywhere in the queue. ZRANGE BYSCORE (Redis 6.2) is what an ACL written for
-- earlier versions allows; then ZRANGEBYSCORE; where neither may run, lapsed waiters are
-- dropped at the head only.
local ok, lapsed = pcall(redis.call, 'ZRANGE', qexp, '-inf', now, 'BYSCORE', 'LIMIT', 0, 8)
if not ok then
  ok, lapsed = pcall(redis.call, 'ZRANGEBYSCORE', qexp, '-inf', now, 'LIMIT', 0, 8)
end
if ok and #lapsed > 0 then
  for _, gone in ipairs(lapsed) do
    redis.call('ZREM', queue, gone)
    redis.call('HDEL', qinfo, gone)
    redis.call('ZREM', qexp, gone)
  end
  place = redis.call('ZRANK', queue, token)
end
-- Second in line: whether the head is still there (a waiter that died no longer listens on
-- its channel) is one look, and it makes us the head at once instead of after its lapse.
if place == 1 then
  local first = redis.call('ZRANGE', queue, 0, 0)[1]
  if not waiter_alive(qinfo, ARGV[3], first, now) then
    redis.call('ZREM', queue, first)
    redis.call('HDEL', qinfo, first)
    redis.call('ZREM', qexp, first)
    place = 0
  end
end
if place == 0 then
  -- The head keeps the queue from expiring; an abandoned queue goes a while after its head.
  for _, k in ipairs({queue, qinfo, qexp}) do
    redis.call('PEXPIRE', k, lifetime * 4)
  end
end
return {place, redis.call('ZCARD', queue)}
