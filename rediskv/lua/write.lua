-- write.lua creates, updates or deletes one flag, atomically.
--
-- KEYS: 1 flags (hash id -> envelope)    2 versions (hash id -> version)
--       3 created (hash id -> created_at) 4 index (zset of index members)
--       5 this id's index members (set)   6 updated (zset updated_at µs -> id)
--       7 changes (zset revision -> id)   8 tombstones (zset deleted_at µs -> id)
--       9 state (hash: revision, horizon)
--      10 actors (hash id -> actor of the latest write, JSON)
--      11 this id's history (zset version -> entry, see history.go)
-- ARGV: 1 op: create | update | delete    2 id
--       3 expected version (0 = unconditional)
--       4 now as RFC 3339 (created_at of a create)
--       5 now in µs since the epoch       6 definition JSON without created_at
--       7 the actor, as a JSON string     8 history versions kept (0 = all)
--       9 history entries older than this (µs) are dropped (0 = none)
--      10.. the id's index members after the write (none for a delete)
--
-- Returns {'ok', version, revision[, created_at]}, {'exists'}, {'notfound'}
-- or {'conflict', current version}. Nothing is written unless it returns 'ok'.
local flags, versions, created, index, members = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local updated, changes, tombstones, state = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local op, id, expected = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now, nowMicros, definition = ARGV[4], ARGV[5], ARGV[6]
local actors, history = KEYS[10], KEYS[11]
local actor, keepVersions, keepSince = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])

-- record keeps the entry of this write in the id's history, then drops what
-- the retention no longer keeps; the newest entry always stays. The entry
-- starts with its time so that pruning reads it without decoding.
local function record(version, revision, body)
  redis.call('HSET', actors, id, actor)
  redis.call('ZADD', history, version,
    '{"t":' .. nowMicros .. ',"v":' .. string.format('%d', version) ..
    ',"r":' .. string.format('%d', revision) .. ',"a":' .. actor .. body .. '}')
  if keepVersions > 0 then
    redis.call('ZREMRANGEBYRANK', history, 0, -keepVersions - 1)
  end
  if keepSince > 0 then
    while redis.call('ZCARD', history) > 1 do
      local oldest = redis.call('ZRANGE', history, 0, 0)[1]
      local t = tonumber(string.match(oldest, '^{"t":(%d+)'))
      if t == nil or t >= keepSince then break end
      redis.call('ZREMRANGEBYRANK', history, 0, 0)
    end
  end
end

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
  record(version, revision, ',"o":"delete"')
  return {'ok', version, revision}
end

local createdAt = now
if op == 'update' then createdAt = redis.call('HGET', created, id) end
redis.call('HSET', created, id, createdAt)
redis.call('HSET', flags, id,
  '{"v":' .. string.format('%d', version) .. ',"r":' .. string.format('%d', revision) ..
  ',"c":"' .. createdAt .. '","d":' .. definition .. '}')
record(version, revision, ',"o":"upsert","c":"' .. createdAt .. '","d":' .. definition)
redis.call('ZREM', tombstones, id)
redis.call('ZADD', updated, nowMicros, id)
for i = 10, #ARGV do
  redis.call('ZADD', index, 0, ARGV[i])
  redis.call('SADD', members, ARGV[i])
end
return {'ok', version, revision, createdAt}
