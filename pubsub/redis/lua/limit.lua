-- Counts one hit in a fixed window and returns {hits, ms until the window
-- resets}. The window starts with the first hit. A counter found without a
-- TTL (should never happen; e.g. a PEXPIRE lost in a crash) gets one rather
-- than blocking the key forever.
-- KEYS[1] counter. ARGV[1] window ms.
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if hits == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
