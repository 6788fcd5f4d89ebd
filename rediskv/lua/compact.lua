-- compact drops from the change feed the tombstones deleted before `before`
-- (µs since the epoch, exclusive) and raises the horizon to the newest
-- revision dropped. The versions hash keeps the ids' versions.
local function compact(changes, tombstones, state, before)
  local ids = redis.call('ZRANGEBYSCORE', tombstones, '-inf', '(' .. before)
  if #ids == 0 then return 0 end
  local horizon = tonumber(redis.call('HGET', state, 'horizon') or '0')
  for i = 1, #ids do
    local revision = tonumber(redis.call('ZSCORE', changes, ids[i]) or '0')
    if revision > horizon then horizon = revision end
    redis.call('ZREM', changes, ids[i])
    redis.call('ZREM', tombstones, ids[i])
  end
  redis.call('HSET', state, 'horizon', string.format('%d', horizon))
  return #ids
end
