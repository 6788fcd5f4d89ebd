package tiered

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/vcache"
)

// entry is an immutable LRU value: a flag (stored != nil) or a negative
// entry (the flag does not exist; version is its tombstone's, or the
// newest version announced before the source said not found). body is the
// JSON encoding of stored, made once per fill.
type entry struct {
	stored  *flagcache.Stored
	body    []byte
	version int64
	expires int64 // unix nanoseconds
	// unchecked: loaded from a snapshot, not yet checked against the
	// source; served as stale.
	unchecked bool
}

func (e *entry) negative() bool { return e.stored == nil }

// Version implements vcache.Versioned.
func (e *entry) Version() int64 { return e.version }

// lru is the versioned cache of internal/vcache, sharded by a hash of the
// id (so parallel readers of different flags do not serialise on one
// lock), with a TTL per entry.
type lru struct {
	*vcache.Cache[*entry]
	now func() int64
	// confirmed is when the last successful repair read the change feed:
	// every flag cached then was current then (an entry is installed only
	// at or above every version announced, and every write up to the
	// applied revision is announced). A flag whose TTL has passed stays
	// valid while confirmed is within the TTL — so the TTL bounds
	// staleness only when repairs stop (source unreachable), instead of
	// reloading hot flags every TTL.
	confirmed atomic.Int64
	ttl       int64
	fresh     func(*entry) bool // made once: a hit allocates nothing
}

// newLRU returns an LRU of about size entries in all. shards = 0 picks a
// power of two near 8 × GOMAXPROCS; maxVersions bounds the versions
// remembered (0: vcache's default).
func newLRU(size, shards, maxVersions int, ttl time.Duration) *lru {
	if shards <= 0 {
		shards = 8 * runtime.GOMAXPROCS(0)
	}
	c := &lru{
		Cache: vcache.New[*entry](vcache.Options{Size: size, Shards: shards, MaxVersions: maxVersions}),
		ttl:   int64(ttl),
		now:   func() int64 { return time.Now().UnixNano() },
	}
	c.fresh = func(e *entry) bool {
		now := c.now()
		return e.expires >= now || (e.stored != nil && c.confirmed.Load() >= now-c.ttl)
	}
	return c
}

// get returns a fresh entry of id.
func (c *lru) get(id flagcache.ID) (*entry, bool) { return c.Get(id, c.fresh) }
