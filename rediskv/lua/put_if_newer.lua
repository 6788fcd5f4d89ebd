-- put_if_newer.lua installs a cache entry only if its version is strictly
-- newer than the entry there (a flag or a tombstone). A value without a
-- readable "v=<version>;" header is corrupt and is replaced.
--
-- KEYS: 1 the entry's key
-- ARGV: 1 version  2 value ("v=<version>;d=<0|1>;" then the JSON)  3 TTL in ms
--
-- Returns 1 if installed, 0 if the entry there is as new or newer.
local current = redis.call('GET', KEYS[1])
if current then
  local version = string.match(current, '^v=(%d+);')
  if version and tonumber(version) >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
