-- Marks this node alive for ttl, forgets nodes whose heartbeat stopped and
-- returns 1 if this node's user set still exists, 0 if Redis lost it (restart,
-- expiry after a long pause) and the node must write it again.
-- KEYS[1] nodes zset, KEYS[2] this node's user set.
-- ARGV[1] this node id, ARGV[2] ttl ms.
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return redis.call('PEXPIRE', KEYS[2], ARGV[2])
