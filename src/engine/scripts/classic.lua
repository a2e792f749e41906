-- --classic: the lock is also the plain string key every Redlock library takes (redlock-py, the
-- `redlock` package, redsync, node-redlock, redis-py's Lock), its value the holder's token, as
-- `SET key token NX PX ttl` leaves it; compared by value to renew or delete it. It is the last
-- of KEYS. The operation's own script (`op`, on the side hash KEYS[1] and the other keys under
-- the prefix, which the libraries never read) keeps redlock's metadata, fence and queue; these
-- wrappers keep the plain key in step with it, in the same atomic script.
local plain = KEYS[#KEYS]
-- The plain key's value: false when absent; '' for a key that is not a string (no Redlock
-- client writes one, but it is in the way all the same).
local function plain_value()
  local t = redis.call('TYPE', plain)
  t = t.ok or t
  if t == 'none' then
    return false
  end
  if t ~= 'string' then
    return ''
  end
  return redis.call('GET', plain)
end
-- Another client's hold, as a holder array: its value and time left, and the mark that tells
-- it from a hold of ours (holder.rs, OTHER_CLIENT).
local function other_client(value)
  return {redis.call('PTTL', plain), value, 'other-client', '', '', '', '', '', ''}
end
-- The same, as the acquire, extend and release scripts say "held by another token".
local function busy_reply(value)
  local h = other_client(value)
  table.insert(h, 1, 0)
  return h
end
-- The plain key says `token` for as long as the side hash holds for it, and goes with it.
local function mirror(token)
  local left = redis.call('PTTL', KEYS[1])
  if left > 0 and redis.call('HGET', KEYS[1], 'token') == token then
    redis.call('SET', plain, token, 'PX', left)
  elseif plain_value() == token then
    redis.call('DEL', plain)
  end
end
