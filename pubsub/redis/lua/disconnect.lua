-- Records that user has no connection left on this node and returns 1 if
-- the user is now offline on every node, else 0.
-- KEYS[1] nodes zset, KEYS[2] this node's user set.
-- ARGV[1] user, ARGV[2] node key prefix, ARGV[3] this node id.
redis.call('SREM', KEYS[2], ARGV[1])
if is_online(KEYS[1], ARGV[2], ARGV[1], ARGV[3]) then return 0 end
return 1
