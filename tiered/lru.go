package tiered

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/flagcache/flagcache"
)

// entry is an immutable LRU value: a flag (stored != nil) or a negative
// entry (the flag does not exist; version is its tombstone's, or 0 when
// unknown). body is the JSON encoding of stored, made once per fill.
type entry struct {
	stored  *flagcache.Stored
	body    []byte
	version int64
	expires int64 // unix nanoseconds
}

func (e *entry) negative() bool { return e.stored == nil }

// lru is a sharded LRU: each shard is a golang-lru simplelru under its own
// mutex, chosen by a hash of the id, so parallel readers of different flags
// do not serialise on one lock. Each shard also keeps, per id, the newest
// version announced by an invalidation (a "floor") for a short while: a
// fill carrying an older version is refused.
type lru struct {
	shards []shard
	mask   uint32
	now    func() int64
	epoch  atomic.Uint64 // bumped by every purge: fills begun before it are refused
	// confirmed is when the last successful repair read the change feed:
	// every flag cached then was current then. A flag whose TTL has passed
	// stays valid while confirmed is within the TTL — so the TTL bounds
	// staleness only when repairs stop (source unreachable), instead of
	// reloading hot flags every TTL.
	confirmed atomic.Int64
	ttl       int64
}

type shard struct {
	mu     sync.Mutex
	items  *simplelru.LRU[flagcache.ID, *entry]
	floors map[flagcache.ID]floor
	hits   int64 // counted under mu: no shared cache line on the hot path
	misses int64
	_      [24]byte // keep shards on separate cache lines
}

type floor struct {
	version int64
	expires int64
}

// newLRU returns an LRU of about size entries in all. shards = 0 picks a
// power of two near 8 × GOMAXPROCS.
func newLRU(size, shards int, ttl time.Duration) *lru {
	if shards <= 0 {
		shards = 8 * runtime.GOMAXPROCS(0)
	}
	n := 1
	for n < shards {
		n <<= 1
	}
	// Ids do not hash evenly: give each shard an eighth more than its
	// share, so a data set the size of the LRU fits.
	per := max((size+n-1)/n+size/(8*n), 1)
	c := &lru{shards: make([]shard, n), mask: uint32(n - 1), ttl: int64(ttl), now: func() int64 { return time.Now().UnixNano() }}
	for i := range c.shards {
		c.shards[i].items, _ = simplelru.NewLRU[flagcache.ID, *entry](per, nil)
		c.shards[i].floors = make(map[flagcache.ID]floor)
	}
	return c
}

// fnv-1a, inline so a lookup does not allocate.
func (c *lru) shard(id flagcache.ID) *shard {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &c.shards[h&c.mask]
}

// get returns a fresh entry of id.
func (c *lru) get(id flagcache.ID) (*entry, bool) {
	s := c.shard(id)
	now := c.now()
	s.mu.Lock()
	e, ok := s.items.Get(id)
	ok = ok && (e.expires >= now || (e.stored != nil && c.confirmed.Load() >= now-c.ttl))
	if ok {
		s.hits++
	} else {
		s.misses++
	}
	s.mu.Unlock()
	return e, ok
}

// counts returns the hits and misses of get.
func (c *lru) counts() (hits, misses int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		hits, misses = hits+s.hits, misses+s.misses
		s.mu.Unlock()
	}
	return hits, misses
}

// getExpired returns an entry of id even past its TTL (stale-if-error).
func (c *lru) getExpired(id flagcache.ID) (*entry, bool) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items.Peek(id)
}

// install puts e for id unless the cache holds, or an invalidation
// announced, a newer version, or a purge happened since epoch (when the
// fill began). Negative entries with an unknown version lose to anything
// announced. It reports whether e was installed.
func (c *lru) install(id flagcache.ID, e *entry, epoch uint64) bool {
	s := c.shard(id)
	now := c.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.epoch.Load() != epoch {
		return false
	}
	if f, ok := s.floors[id]; ok && f.expires > now && e.version < f.version {
		return false
	}
	if old, ok := s.items.Peek(id); ok && old.version > e.version {
		return false
	}
	s.items.Add(id, e)
	return true
}

// announce records that version of id exists: older cached copies are
// dropped and fills older than it are refused until ttl passes.
func (c *lru) announce(id flagcache.ID, version int64, ttl time.Duration) {
	s := c.shard(id)
	now := c.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.items.Peek(id); ok && old.version < version {
		s.items.Remove(id)
	}
	if f, ok := s.floors[id]; !ok || f.version < version || f.expires <= now {
		s.floors[id] = floor{version: max(version, f.version), expires: now + int64(ttl)}
	}
	if len(s.floors) > 2*s.items.Len()+64 {
		for k, f := range s.floors {
			if f.expires <= now {
				delete(s.floors, k)
			}
		}
	}
}

// floor returns the newest announced version of id still in force.
func (c *lru) floor(id flagcache.ID) int64 {
	s := c.shard(id)
	s.mu.Lock()
	f, ok := s.floors[id]
	s.mu.Unlock()
	if !ok || f.expires <= c.now() {
		return 0
	}
	return f.version
}

// replaceIfCached installs e only where id is already cached with an older
// version: a repair refreshes what this sidecar holds without filling the
// cache with flags nobody asked for.
func (c *lru) replaceIfCached(id flagcache.ID, e *entry) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.items.Peek(id); ok && old.version < e.version {
		s.items.Add(id, e)
	}
}

// purge empties every shard (floors stay: they only ever protect).
func (c *lru) purge() {
	c.epoch.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.items.Purge()
		s.mu.Unlock()
	}
}

// len returns the number of entries.
func (c *lru) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.items.Len()
		s.mu.Unlock()
	}
	return n
}
