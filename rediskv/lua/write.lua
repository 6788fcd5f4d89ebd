-- write.lua creates, updates or deletes one flag, atomically.
--
-- KEYS: 1 flags (hash id -> envelope)    2 versions (hash id -> version)
--       3 created (hash id -> created_at) 4 index (zset of index members)
--       5 this id's index members (set)   6 updated (zset updated_at µs -> id)
--       7 changes (zset revision -> id)   8 tombstones (zset deleted_at µs -> id)
--       9 state (hash: revision, horizon)
-- ARGV: 1 op: create | update | delete    2 id
--       3 expected version (0 = unconditional)
--       4 now as RFC 3339 (created_at of a create)
--       5 now in µs since the epoch       6 definition JSON without created_at
--       7.. the id's index members after the write (none for a delete)
--
-- Returns {'ok', version, revision[, created_at]}, {'exists'}, {'notfound'}
-- or {'conflict', current version}. Nothing is written unless it returns 'ok'.
local flags, versions, created, index, members = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local updated, changes, tombstones, state = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local op, id, expected = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now, nowMicros, definition = ARGV[4], ARGV[5], ARGV[6]

local live = redis.call('HEXISTS', flags, id) == 1
local version = tonumber(redis.call('HGET', versions, id) or '0')
if op == 'create' then
  if live then return {'exists'} end
else
  if not live then return {'notfound'} end
  if expected > 0 and expected ~= version then return {'conflict', version} end
end

-- The id leaves every index it was in; a create or update enters the new ones.
local old = redis.call('SMEMBERS', members)
for i = 1, #old do redis.call('ZREM', index, old[i]) end
redis.call('DEL', members)

-- The version is remembered forever, tombstones included, so a re-created
-- flag continues above it.
version = version + 1
local revision = redis.call('HINCRBY', state, 'revision', 1)
redis.call('HSET', versions, id, version)
redis.call('ZADD', changes, revision, id) -- one member per id: the feed is compacted

if op == 'delete' then
  redis.call('HDEL', flags, id)
  redis.call('HDEL', created, id)
  redis.call('ZREM', updated, id)
  redis.call('ZADD', tombstones, nowMicros, id)
  return {'ok', version, revision}
end

local createdAt = now
if op == 'update' then createdAt = redis.call('HGET', created, id) end
redis.call('HSET', created, id, createdAt)
redis.call('HSET', flags, id,
  '{"v":' .. string.format('%d', version) .. ',"r":' .. string.format('%d', revision) ..
  ',"c":"' .. createdAt .. '","d":' .. definition .. '}')
redis.call('ZREM', tombstones, id)
redis.call('ZADD', updated, nowMicros, id)
for i = 7, #ARGV do
  redis.call('ZADD', index, 0, ARGV[i])
  redis.call('SADD', members, ARGV[i])
end
return {'ok', version, revision, createdAt}
