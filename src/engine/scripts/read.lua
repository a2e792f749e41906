-- Read one lock without changing it (inspect, waiting notices).
-- KEYS[1] lock hash, KEYS[2] fence counter
-- -> {holder..., counter}   pttl is -2 when there is no lock
local h = holder(KEYS[1])
table.insert(h, counter(KEYS[2]))
return h
