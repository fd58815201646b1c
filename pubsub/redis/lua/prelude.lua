-- Prepended to every presence script. Time comes from the Redis server,
-- not from the nodes, so clock skew between nodes cannot make a live node
-- look dead or a dead one look alive.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- is_online reports whether user is in the set of any live node other than
-- skip. KEYS[1] is the sorted set of node id -> expiry (ms); node_prefix ..
-- id is a node's set of connected users. Keys are built here, which is fine
-- on a single Redis (not Redis Cluster).
local function is_online(nodes_key, node_prefix, user, skip)
  local live = redis.call('ZRANGE', nodes_key, now_ms(), '+inf', 'BYSCORE')
  for _, id in ipairs(live) do
    if id ~= skip and redis.call('SISMEMBER', node_prefix .. id, user) == 1 then
      return true
    end
  end
  return false
end
