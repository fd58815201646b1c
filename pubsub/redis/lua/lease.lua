-- Acquires the lease if it is free, renews it if this node holds it, and
-- returns 1 if this node holds it afterwards. Compare and renew in one
-- script: a node whose lease expired and was taken must not extend the new
-- holder's lease.
-- KEYS[1] lease. ARGV[1] node id, ARGV[2] ttl ms.
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
