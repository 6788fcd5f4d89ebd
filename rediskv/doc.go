// Package rediskv keeps flags in Redis (github.com/redis/go-redis/v9), in
// two roles, both on any redis.UniversalClient (single node, Sentinel or
// Cluster).
//
// As a Store (New), Redis is the only backend and passes the storetest
// conformance suite. Every write is one Lua script run (EVALSHA): it checks
// existence and the expected version, bumps the flag's version and the
// store-wide revision, writes the flag, moves it between the secondary
// indexes and records it in the compacted change log, atomically. Reads use
// the indexes: List and Count walk ranges of one sorted set ordered by name
// then id (ZRANGEBYLEX), ModifiedSince an updated_at sorted set, Changes a
// revision sorted set; GetMany is one HMGET. All keys of a store share the
// hash tag "{prefix}", so the scripts run on Redis Cluster too, at the cost
// of keeping one store in one slot (see docs/redis.md).
//
// As a Cache (NewCache), Redis is the shared tier of tiered.Store: one key
// per flag, spread over the slots, holding the flag or a versioned delete
// tombstone with a TTL. PutIfNewer is a script that installs an entry only
// if its version is strictly newer than the one there, so no ordering of
// writers and fillers moves an entry backwards. A value that cannot be
// decoded is a miss, logged, never served.
//
// Errors are translated once: a server that cannot be reached or cannot
// serve (network errors, pool timeouts, LOADING, READONLY, CLUSTERDOWN, ...)
// is flagcache.ErrUnavailable wrapping the cause; a cancelled context is the
// context's error; redis.Nil is a miss or flagcache.ErrNotFound.
package rediskv
