-- Records that user got its first connection on this node and returns 1 if
-- the user was offline on every node before, else 0. Atomic, so two nodes
-- connecting one user at once cannot both miss (or both claim) the
-- transition.
-- KEYS[1] nodes zset, KEYS[2] this node's user set.
-- ARGV[1] user, ARGV[2] node key prefix, ARGV[3] this node id, ARGV[4] ttl ms.
local was_online = is_online(KEYS[1], ARGV[2], ARGV[1], ARGV[3])
  or redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
-- A node that connects someone is alive, even before its next heartbeat
-- (e.g. right after Redis lost everything).
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[4]), ARGV[3])
if was_online then return 0 end
return 1
