package tiered

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/vcache"
)

// entry is an LRU value: a flag (body != nil) or a negative entry (the
// flag does not exist; version is its tombstone's, or the newest version
// announced before the source said not found). A flag is cached as its
// JSON (Stored.AppendJSON, made once per fill), which the HTTP API's GET
// serves as is (GetEncoded). The decoded Stored that Get, GetHit and
// GetMany return is made from those bytes the first time one of them
// reads the entry, and kept from then on: a flag only served over HTTP is
// held once, as its bytes, not as its bytes and its decoded form
// (docs/benchmarks.md, "Memory"). Everything but decoded is immutable.
type entry struct {
	body      []byte
	etag      string
	version   int64
	expires   int64 // unix nanoseconds
	malformed bool
	// unchecked: loaded from a snapshot, not yet checked against the
	// source; served as stale.
	unchecked bool
	decoded   atomic.Pointer[flagcache.Stored]
}

func (e *entry) negative() bool { return e.body == nil }

// Version implements vcache.Versioned.
func (e *entry) Version() int64 { return e.version }

// stored returns the decoded flag, decoding the body on the first call.
// Concurrent first callers may each decode; all get the value that was
// kept.
func (e *entry) stored() (*flagcache.Stored, error) {
	if st := e.decoded.Load(); st != nil {
		return st, nil
	}
	st := new(flagcache.Stored)
	if err := st.UnmarshalJSON(e.body); err != nil {
		return nil, fmt.Errorf("tiered: decoding a cached flag: %w", err)
	}
	if !e.decoded.CompareAndSwap(nil, st) {
		st = e.decoded.Load()
	}
	return st, nil
}

// encoded is the entry as an Encoded read.
func (e *entry) encoded(tier flagcache.Tier, stale bool) flagcache.Encoded {
	return flagcache.Encoded{Body: e.body, Version: e.version, ETag: e.etag, Malformed: e.malformed, Tier: tier, Stale: stale}
}

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
		return e.expires >= now || (!e.negative() && c.confirmed.Load() >= now-c.ttl)
	}
	return c
}

// get returns a fresh entry of id.
func (c *lru) get(id flagcache.ID) (*entry, bool) { return c.Get(id, c.fresh) }
