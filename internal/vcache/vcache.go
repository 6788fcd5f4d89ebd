// Package vcache is the versioned cache core shared by tiered's LRU and
// the client's local cache: a sharded LRU of versioned entries plus, per
// id, the newest version this process knows to exist.
//
// The rule it keeps: an entry is installed only if it is at least as new
// as the entry cached and as every version announced for its id, and only
// if no purge happened since its fill began (a Token). Announced versions
// are not forgotten after a delay: they are what stops an older copy —
// from a racing fill, or from a Redis that moved backwards — from being
// installed or served, however long ago the newer version was announced.
// They are bounded by Options.MaxVersions: past it the versions of the
// least recently written ids are dropped, and Accepts then refuses copies
// of those ids that it can no longer vouch for.
package vcache

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/flagcache/flagcache"
)

// Versioned is a cache entry: a flag, or the absence of one, at a version.
type Versioned interface{ Version() int64 }

// UnknownRevision marks an announced version whose revision is not known
// (a version conflict reports the current version, not its revision).
const UnknownRevision = math.MaxInt64

// Options size a Cache; zero values are the documented defaults.
type Options struct {
	Size        int // entries in all; default 10,000
	Shards      int // rounded up to a power of two; default 1
	MaxVersions int // announced versions kept in all; default max(4 × Size, 100,000)
}

// Cache is safe for concurrent use.
type Cache[E Versioned] struct {
	shards []shard[E]
	mask   uint32
	epoch  atomic.Uint64 // bumped by every purge
	// known is the revision up to which every id's newest version is
	// announced here (-1: nothing known yet): an id with no announced
	// version had no write at or below it.
	known    atomic.Int64
	perShard int
}

type shard[E Versioned] struct {
	mu       sync.Mutex
	items    *lru[E]
	versions map[flagcache.ID]announced
	// forgotten is the newest revision of a version dropped to stay
	// within MaxVersions.
	forgotten int64
	hits      int64 // counted under mu: no shared cache line on the hot path
	misses    int64
	_         [24]byte // keep shards on separate cache lines
}

type announced struct{ version, revision int64 }

// Token is taken before a fill reads: Install refuses the fill if a purge
// happened since.
type Token struct{ epoch uint64 }

// New returns an empty Cache.
func New[E Versioned](opts Options) *Cache[E] {
	if opts.Size <= 0 {
		opts.Size = 10_000
	}
	if opts.MaxVersions <= 0 {
		opts.MaxVersions = max(4*opts.Size, 100_000)
	}
	n := 1
	for n < opts.Shards {
		n <<= 1
	}
	// Ids do not hash evenly: give each shard an eighth more than its
	// share, so a data set the size of the cache fits.
	per := max((opts.Size+n-1)/n+opts.Size/(8*n), 1)
	c := &Cache[E]{shards: make([]shard[E], n), mask: uint32(n - 1), perShard: max(opts.MaxVersions/n, 16)}
	c.known.Store(-1)
	for i := range c.shards {
		c.shards[i].items = newLRU[E](per)
		c.shards[i].versions = make(map[flagcache.ID]announced)
		c.shards[i].forgotten = -1
	}
	return c
}

// fnv-1a, inline so a lookup does not allocate.
func (c *Cache[E]) shard(id flagcache.ID) *shard[E] {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &c.shards[h&c.mask]
}

// Get returns the entry of id if fresh reports it usable (fresh runs under
// the shard's lock and must be quick), counting a hit or a miss.
func (c *Cache[E]) Get(id flagcache.ID, fresh func(E) bool) (E, bool) {
	s := c.shard(id)
	s.mu.Lock()
	e, ok := s.items.get(id)
	ok = ok && fresh(e)
	if ok {
		s.hits++
	} else {
		s.misses++
	}
	s.mu.Unlock()
	return e, ok
}

// Peek returns the entry of id, fresh or not, without counting.
func (c *Cache[E]) Peek(id flagcache.ID) (E, bool) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items.peek(id)
}

// Begin returns the token of a fill starting now.
func (c *Cache[E]) Begin() Token { return Token{epoch: c.epoch.Load()} }

// Install puts e for id unless a purge happened since tok, a newer version
// was announced, or the entry cached is newer. It reports whether e was
// installed.
func (c *Cache[E]) Install(tok Token, id flagcache.ID, e E) bool {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.epoch.Load() != tok.epoch {
		return false
	}
	if a, ok := s.versions[id]; ok && e.Version() < a.version {
		return false
	}
	if old, ok := s.items.peek(id); ok && old.Version() > e.Version() {
		return false
	}
	s.items.add(id, e)
	return true
}

// ReplaceIfCached installs e only where id is cached with an older
// version: refreshing what is held without caching what nobody asked for.
func (c *Cache[E]) ReplaceIfCached(id flagcache.ID, e E) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.items.peek(id); ok && old.Version() < e.Version() {
		s.items.add(id, e)
	}
}

// Announce records that version of id exists, written at revision
// (UnknownRevision if not known): older cached copies are dropped and
// older fills refused from now on.
func (c *Cache[E]) Announce(id flagcache.ID, version, revision int64) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.items.peek(id); ok && old.Version() < version {
		s.items.remove(id)
	}
	a, ok := s.versions[id]
	switch {
	case !ok || a.version < version:
		s.versions[id] = announced{version: version, revision: revision}
	case a.version == version && revision < a.revision:
		s.versions[id] = announced{version: version, revision: revision} // learnt the revision
	}
	if len(s.versions) > c.perShard {
		c.forgetOldest(s)
	}
}

// forgetOldest drops the quarter of s's announced versions written
// longest ago; Accepts then refuses copies of this shard's ids without a
// version that are not newer than the newest of them. Unknown revisions go
// last.
func (c *Cache[E]) forgetOldest(s *shard[E]) {
	revs := make([]int64, 0, len(s.versions))
	for _, a := range s.versions {
		revs = append(revs, a.revision)
	}
	slices.Sort(revs)
	cut := revs[len(revs)/4]
	s.forgotten = max(s.forgotten, cut)
	for id, a := range s.versions {
		if a.revision <= cut {
			delete(s.versions, id)
		}
	}
}

// Floor returns the newest version announced for id, 0 if none.
func (c *Cache[E]) Floor(id flagcache.ID) int64 {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[id].version
}

// Accepts reports whether a copy of id at version, written at revision
// (0 if unknown), from a cache this process does not control (Redis) may
// be served: it must be at least the newest version announced; an id with
// none announced had no write up to Known (nor up to a version forgotten),
// so its copy must come from a later write.
func (c *Cache[E]) Accepts(id flagcache.ID, version, revision int64) bool {
	s := c.shard(id)
	s.mu.Lock()
	a, ok := s.versions[id]
	forgotten := s.forgotten
	s.mu.Unlock()
	if ok {
		return version >= a.version
	}
	return revision > max(c.known.Load(), forgotten)
}

// SetKnown records that every write up to revision is announced here.
func (c *Cache[E]) SetKnown(revision int64) { c.known.Store(revision) }

// Known returns the revision SetKnown recorded last, -1 if none.
func (c *Cache[E]) Known() int64 { return c.known.Load() }

// Remove drops id's entry (its announced version stays).
func (c *Cache[E]) Remove(id flagcache.ID) {
	s := c.shard(id)
	s.mu.Lock()
	s.items.remove(id)
	s.mu.Unlock()
}

// Purge drops every entry and refuses the fills begun before it.
// Announced versions stay: they only ever protect.
func (c *Cache[E]) Purge() {
	c.epoch.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.items.purge()
		s.mu.Unlock()
	}
}

// Each calls f for every entry, most recently used first within each
// shard, until f returns false. It copies one shard's entries at a time
// and calls f without a lock held.
func (c *Cache[E]) Each(f func(id flagcache.ID, e E) bool) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		ids, es := s.items.entries()
		s.mu.Unlock()
		for j := range ids {
			if !f(ids[j], es[j]) {
				return
			}
		}
	}
}

// Len returns the number of entries.
func (c *Cache[E]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.items.len()
		s.mu.Unlock()
	}
	return n
}

// Versions returns the number of announced versions kept.
func (c *Cache[E]) Versions() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.versions)
		s.mu.Unlock()
	}
	return n
}

// Counts returns the hits and misses of Get.
func (c *Cache[E]) Counts() (hits, misses int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		hits, misses = hits+s.hits, misses+s.misses
		s.mu.Unlock()
	}
	return hits, misses
}
