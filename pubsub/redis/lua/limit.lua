-- GCRA (generic cell rate algorithm), the token bucket of
-- github.com/go-redis/redis_rate, kept here so the key carries this
-- deployment's prefix (redis_rate prepends its own fixed "rate:", which
-- breaks prefix isolation and ACL key patterns such as ~ct:*), in integer
-- milliseconds of the Redis clock.
-- KEYS[1] theoretical arrival time (ms). ARGV[1] limit = burst, ARGV[2]
-- window ms (one token every window/limit), ARGV[3] cost: 1 takes a token,
-- 0 only looks.
-- Returns {1, 0} when allowed, {0, ms until the next token} when not.
local burst = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local interval = window / burst
local now = now_ms()
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
-- A hit is allowed while the bucket still holds a token: at most burst
-- intervals of debt ahead of now.
local allow_at = tat + interval - window
if now < allow_at then
  return {0, math.max(1, math.ceil(allow_at - now))}
end
if cost > 0 then
  local new_tat = tat + interval
  redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
end
return {1, 0}
