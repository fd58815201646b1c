-- Returns, for each user in ARGV[2..], 1 if it is in the set of a live node.
-- Cost: one SMISMEMBER per live node for the whole batch, so asking about
-- n users on k nodes is O(n*k) set lookups in one round trip.
-- KEYS[1] nodes zset. ARGV[1] node key prefix, ARGV[2..] users.
local res = {}
for i = 2, #ARGV do res[i - 1] = 0 end
local live = redis.call('ZRANGE', KEYS[1], now_ms(), '+inf', 'BYSCORE')
for _, id in ipairs(live) do
  local found = redis.call('SMISMEMBER', ARGV[1] .. id, unpack(ARGV, 2))
  for i, v in ipairs(found) do
    if v == 1 then res[i] = 1 end
  end
end
return res
