-- changes.lua reads one page of the change feed, after compacting it with
-- the retention (compact.lua is prepended).
--
-- KEYS: 1 changes  2 tombstones  3 state  4 flags  5 versions  6 actors
-- ARGV: 1 compact tombstones deleted before this (µs)  2 after (revision)
--       3 limit (0 = no limit)
--
-- Returns {current revision, 'resync'} when after is below the horizon or
-- above the current revision (a cursor of another or a reset store), else
-- {current revision, 'ok', then per change: id, revision, envelope or false
-- (a tombstone), version, actor JSON or false}.
local changes, tombstones, state, flags, versions, actors = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
compact(changes, tombstones, state, ARGV[1])

local after, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local current = redis.call('HGET', state, 'revision') or '0'
local horizon = tonumber(redis.call('HGET', state, 'horizon') or '0')
if after > tonumber(current) or (after > 0 and after < horizon) then return {current, 'resync'} end

local page
if limit > 0 then
  page = redis.call('ZRANGEBYSCORE', changes, '(' .. ARGV[2], '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
else
  page = redis.call('ZRANGEBYSCORE', changes, '(' .. ARGV[2], '+inf', 'WITHSCORES')
end
local out = {current, 'ok'}
for i = 1, #page, 2 do
  local id = page[i]
  out[#out + 1] = id
  out[#out + 1] = page[i + 1]
  out[#out + 1] = redis.call('HGET', flags, id)
  out[#out + 1] = redis.call('HGET', versions, id)
  out[#out + 1] = redis.call('HGET', actors, id)
end
return out
