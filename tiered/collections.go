package tiered

import (
	"container/list"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
)

// Collections (List, Count, ModifiedSince pages, change-feed pages) are
// served from memory while they are provably current. The store-wide
// revision makes that exact: a result computed at revision R is the answer
// while the applied revision is R and no write past R is known. So every
// result is stamped with the applied revision taken BEFORE the source is
// asked (a source read made after the stamp holds every write up to it; a
// stamp taken after the read could name writes the result lacks), cached
// under a canonical form of its query, and served while revisionState()
// still answers (R, true). When the applied revision moves, every cached
// result is dead at once: the cache holds one revision's results and drops
// them all when a result of another revision is put.
//
// With the source unreachable, results cached at the applied revision are
// served marked stale, as single flags are.

var _ flagcache.CollectionReader = (*Store)(nil)

// Defaults of Options.CollectionBytes and CollectionEntries.
const (
	DefaultCollectionBytes   = 64 << 20
	DefaultCollectionEntries = 1024
)

// CollectionRevision implements flagcache.CollectionReader.
func (s *Store) CollectionRevision() (revision int64, ok, stale bool) {
	applied, current := s.revisionState()
	return applied, applied >= 0 && s.sync.sourceRev.Load() <= applied, !current || s.sourceDown.Load()
}

// ReadList implements flagcache.CollectionReader: the page and the Count
// of its filters, from one revision. They are two source calls, so when a
// write lands between them both are read again (a few times at most); the
// last attempt reads the filters' whole list in one call and takes the
// page from it, so that page and total are of one read even while writes
// keep landing.
func (s *Store) ReadList(ctx context.Context, q flagcache.Query) (flagcache.Collection, error) {
	tries := 0
	return s.collect(ctx, queryKey('P', q, true), listAttempts, func(ctx context.Context) (flagcache.Collection, error) {
		if tries++; tries == listAttempts {
			return s.listInOneRead(ctx, q)
		}
		page, err := s.source.List(ctx, q)
		if err != nil {
			return flagcache.Collection{}, err
		}
		total, err := s.source.Count(ctx, q)
		return flagcache.Collection{Flags: page, Total: total}, err
	})
}

// listInOneRead is q's page and total from one List of its filters.
func (s *Store) listInOneRead(ctx context.Context, q flagcache.Query) (flagcache.Collection, error) {
	all := q
	all.Offset, all.Limit = 0, 0
	flags, err := s.source.List(ctx, all)
	if err != nil {
		return flagcache.Collection{}, err
	}
	lo, hi := min(max(q.Offset, 0), len(flags)), len(flags)
	if q.Limit > 0 {
		hi = min(lo+q.Limit, hi)
	}
	return flagcache.Collection{Flags: flags[lo:hi:hi], Total: len(flags)}, nil
}

// listAttempts bounds how often ReadList reads a page and its total again
// while writes keep landing between them.
const listAttempts = 3

// ReadCount implements flagcache.CollectionReader.
func (s *Store) ReadCount(ctx context.Context, q flagcache.Query) (flagcache.Collection, error) {
	return s.collect(ctx, queryKey('C', q, false), 1, func(ctx context.Context) (flagcache.Collection, error) {
		n, err := s.source.Count(ctx, q)
		return flagcache.Collection{Total: n}, err
	})
}

// ReadModifiedSince implements flagcache.CollectionReader.
func (s *Store) ReadModifiedSince(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) (flagcache.Collection, error) {
	key := timeKey('M', since)
	key = strconv.AppendQuote(key, string(afterID))
	key = strconv.AppendInt(append(key, '|'), int64(limit), 10)
	return s.collect(ctx, key, 1, func(ctx context.Context) (flagcache.Collection, error) {
		page, err := flagcache.ModifiedSincePage(ctx, s.source, since, afterID, limit)
		return flagcache.Collection{Flags: page}, err
	})
}

// ReadChanges implements flagcache.CollectionReader. A page carries the
// source's revision itself. It is read from the source whenever the source
// answers, and from memory only while it does not (marked stale): a page's
// content is not fixed by the revision, since the source drops tombstones
// past its retention by time, with no write — a cursor valid at R a
// minute ago may get ErrResyncNeeded at the same R now, and a page cached
// at R would hide that (and any write the source holds past a revision
// this sidecar wrongly thinks current) from a client deciding it has
// caught up.
func (s *Store) ReadChanges(ctx context.Context, after int64, limit int) (flagcache.Collection, error) {
	key := strconv.AppendInt([]byte{'F'}, after, 10)
	key = strconv.AppendInt(append(key, '|'), int64(limit), 10)
	return s.collectFrom(ctx, key, 1, true, func(ctx context.Context) (flagcache.Collection, error) {
		feed, err := s.source.Changes(ctx, after, limit)
		return flagcache.Collection{Feed: feed}, err
	})
}

// ReadMany implements flagcache.CollectionReader: GetMany, whose flags the
// LRU already holds one by one, stamped with the revision taken before it.
// It is Exact when the store was current at the stamp before and after
// the reads, with no write past it known.
func (s *Store) ReadMany(ctx context.Context, ids []flagcache.ID) (flagcache.Collection, error) {
	stamp, before := s.revisionState()
	found, err := s.GetMany(ctx, ids)
	after, current := s.revisionState()
	exact := before && current && after == stamp && s.sync.sourceRev.Load() <= stamp
	return flagcache.Collection{Found: found, Revision: stamp, Stale: s.sourceDown.Load(), Exact: exact}, err
}

// listFromMemory serves List through the collection cache.
func (s *Store) listFromMemory(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	c, err := s.collect(ctx, queryKey('L', q, true), 1, func(ctx context.Context) (flagcache.Collection, error) {
		page, err := s.source.List(ctx, q)
		return flagcache.Collection{Flags: page}, err
	})
	return slices.Clone(c.Flags), err // the caller may reorder its slice
}

// countFromMemory serves Count through the collection cache.
func (s *Store) countFromMemory(ctx context.Context, q flagcache.Query) (int, error) {
	c, err := s.ReadCount(ctx, q)
	return c.Total, err
}

// modifiedFromMemory serves ModifiedSince through the collection cache.
func (s *Store) modifiedFromMemory(ctx context.Context, since time.Time) ([]*flagcache.Stored, error) {
	c, err := s.collect(ctx, timeKey('A', since), 1, func(ctx context.Context) (flagcache.Collection, error) {
		page, err := s.source.ModifiedSince(ctx, since)
		return flagcache.Collection{Flags: page}, err
	})
	return slices.Clone(c.Flags), err
}

// modifiedPageFromMemory serves ModifiedSincePage through the cache.
func (s *Store) modifiedPageFromMemory(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	c, err := s.ReadModifiedSince(ctx, since, afterID, limit)
	return slices.Clone(c.Flags), err
}

// collect answers key from memory when the cached result is current, else
// reads it from the source (bounded by LoadTimeout) and caches it when it
// is exactly at the applied revision. With the source unreachable, a
// result cached at the applied revision is served stale.
func (s *Store) collect(ctx context.Context, key []byte, attempts int, read func(context.Context) (flagcache.Collection, error)) (flagcache.Collection, error) {
	return s.collectFrom(ctx, key, attempts, false, read)
}

// collectFrom is collect; with sourceFirst, a cached result is served only
// while the source is down (stale), never in place of asking it.
func (s *Store) collectFrom(ctx context.Context, key []byte, attempts int, sourceFirst bool, read func(context.Context) (flagcache.Collection, error)) (flagcache.Collection, error) {
	if err := ctx.Err(); err != nil {
		return flagcache.Collection{}, err
	}
	stamp, current := s.revisionState()
	down := s.sourceDown.Load()
	current = current && !down
	if current && !sourceFirst {
		if c, ok := s.colls.get(key, stamp); ok {
			return c, nil
		}
	} else if stamp >= 0 && down && !s.colls.probeDue(s.lru.now(), int64(s.opts.BreakerCooldown)) {
		if c, ok := s.staleCollection(key, stamp); ok {
			return c, nil
		}
	}
	var exact bool
	c, err := bounded(s, ctx, func(ctx context.Context) (c flagcache.Collection, err error) {
		c, exact, err = s.readAt(ctx, stamp, attempts, read)
		return c, err
	})
	if err != nil {
		if errors.Is(err, flagcache.ErrUnavailable) && stamp >= 0 {
			if c, ok := s.staleCollection(key, stamp); ok {
				return c, nil
			}
		}
		return flagcache.Collection{}, err
	}
	c.JSON = encodeCollection(c)
	c.Exact = exact
	if current && exact && c.Revision == stamp {
		s.colls.put(key, c, func() bool { // still the answer at the stamp?
			now, current := s.revisionState()
			return current && now == stamp && !s.sourceDown.Load()
		})
	}
	return c, nil
}

// readAt reads a collection from the source and finds the revision it is
// at: the source's revision after the read (the feed page's own, for a
// change-feed read). When that is still the revision before the read —
// the stamp, or the one an earlier attempt found — nothing was committed
// in between and the result is exactly at it (exact). Otherwise the store
// is behind the source: that revision is recorded (so no result cached at
// the stamp, older than this one, is served from now on) and the repair
// loop catches up; the read is tried again up to attempts times, and
// finally returned with the stamp as its revision, a lower bound.
func (s *Store) readAt(ctx context.Context, stamp int64, attempts int, read func(context.Context) (flagcache.Collection, error)) (c flagcache.Collection, exact bool, err error) {
	at := max(stamp, 0)
	for attempt := 1; ; attempt++ {
		c, err = read(ctx)
		if err != nil {
			return c, false, err
		}
		rev, ok := int64(0), true
		if c.Feed != nil {
			rev = c.Feed.Revision
		} else {
			rev, ok = s.feedRevision(ctx, at)
		}
		c.Revision = stamp
		if !ok {
			return c, false, nil // not provably exact: served, not cached
		}
		s.behindSource(stamp, rev)
		if rev == at {
			c.Revision = at
			return c, true, nil
		}
		if attempt >= attempts {
			return c, false, nil
		}
		at = rev
	}
}

// feedRevision returns the source's current revision, read from the
// change feed after at.
func (s *Store) feedRevision(ctx context.Context, at int64) (int64, bool) {
	feed, err := s.source.Changes(ctx, at, 1)
	if err != nil {
		return 0, false
	}
	return feed.Revision, true
}

// behindSource records the source's revision read beside a collection:
// past the stamp, the store is behind and repairs.
func (s *Store) behindSource(stamp, rev int64) {
	if rev > stamp {
		s.sync.heard(rev)
		kick(s.sync.repairCh)
	}
}

// staleCollection returns the result of key cached at the applied
// revision stamp, marked stale.
func (s *Store) staleCollection(key []byte, stamp int64) (flagcache.Collection, bool) {
	c, ok := s.colls.get(key, stamp)
	if ok {
		c.Stale = true
		s.obs.staleServed.Add(1)
	}
	return c, ok
}

func encodeCollection(c flagcache.Collection) []byte {
	switch {
	case c.Feed != nil:
		if c.Feed.Changes == nil {
			c.Feed.Changes = []flagcache.Change{}
		}
		return c.Feed.AppendJSON(nil)
	case c.Flags != nil:
		return flagcache.AppendStoredList(nil, c.Flags)
	}
	return nil
}

// queryKey is the canonical form of q: the same filters in any order (of
// tags, say) give the same key. Count ignores the page (withPage false).
func queryKey(kind byte, q flagcache.Query, withPage bool) []byte {
	b := append(make([]byte, 0, 64), kind)
	b = strconv.AppendQuote(b, string(q.Status))
	b = strconv.AppendQuote(b, q.Environment)
	b = strconv.AppendQuote(b, q.Owner)
	b = strconv.AppendBool(b, q.IncludeArchived)
	tags := slices.Compact(slices.Sorted(slices.Values(q.Tags)))
	b = strconv.AppendInt(b, int64(len(tags)), 10)
	for _, t := range tags {
		b = strconv.AppendQuote(b, t)
	}
	if withPage {
		b = strconv.AppendInt(append(b, '|'), int64(q.Offset), 10)
		b = strconv.AppendInt(append(b, '|'), int64(q.Limit), 10)
	}
	return b
}

// timeKey keys an instant exactly (time.Time{} included).
func timeKey(kind byte, t time.Time) []byte {
	b := strconv.AppendInt([]byte{kind}, t.Unix(), 10)
	return strconv.AppendInt(append(b, '.'), int64(t.Nanosecond()), 10)
}

// collections is the revision-stamped result cache: results of one
// revision, least recently used first out past its byte or entry budget.
type collections struct {
	maxBytes   int64
	maxEntries int

	mu      sync.Mutex
	rev     int64 // the revision of every result held
	entries map[string]*list.Element
	order   *list.List // of *collEntry, most recently used first
	bytes   int64

	hits, misses, evictions atomic.Int64
	probed                  atomic.Int64 // when a read last asked a source marked down
}

// probeDue reports whether a collection read should ask a source marked
// down again (one read per cooldown does): served from memory, reads
// would otherwise never find out that it is back.
func (c *collections) probeDue(now, cooldown int64) bool {
	last := c.probed.Load()
	return now-last >= cooldown && c.probed.CompareAndSwap(last, now)
}

type collEntry struct {
	key  string
	c    flagcache.Collection
	size int64
}

// newCollections returns a cache of at most maxBytes (estimated) and
// maxEntries results; either ≤ 0 disables it.
func newCollections(maxBytes int64, maxEntries int) *collections {
	return &collections{maxBytes: maxBytes, maxEntries: maxEntries, rev: -1, entries: map[string]*list.Element{}, order: list.New()}
}

func (c *collections) get(key []byte, rev int64) (flagcache.Collection, bool) {
	c.mu.Lock()
	el, ok := c.entries[string(key)]
	if ok && c.rev == rev {
		c.order.MoveToFront(el)
		res := el.Value.(*collEntry).c
		c.mu.Unlock()
		c.hits.Add(1)
		return res, true
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return flagcache.Collection{}, false
}

// put caches res under key if valid (called under the cache's lock, after
// every result of another revision is dropped) still holds.
func (c *collections) put(key []byte, res flagcache.Collection, valid func() bool) {
	e := &collEntry{key: string(key), c: res, size: resultSize(key, res)}
	if e.size > c.maxBytes || c.maxEntries <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Under the lock: a result of a revision that has since moved on
	// must not replace the newer revision's results.
	if !valid() {
		return
	}
	if c.rev != res.Revision {
		c.entries = map[string]*list.Element{}
		c.order.Init()
		c.bytes, c.rev = 0, res.Revision
	}
	if old, ok := c.entries[e.key]; ok {
		c.remove(old)
	}
	c.entries[e.key] = c.order.PushFront(e)
	c.bytes += e.size
	for c.bytes > c.maxBytes || len(c.entries) > c.maxEntries {
		c.remove(c.order.Back())
		c.evictions.Add(1)
	}
}

// clear drops every result.
func (c *collections) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]*list.Element{}
	c.order.Init()
	c.bytes = 0
}

func (c *collections) remove(el *list.Element) {
	e := c.order.Remove(el).(*collEntry)
	delete(c.entries, e.key)
	c.bytes -= e.size
}

// resultSize estimates what a cached result keeps alive: its JSON, the
// decoded flags (about as much again: a decoded definition keeps its
// source bytes beside its fields) and the bookkeeping.
func resultSize(key []byte, c flagcache.Collection) int64 {
	n := len(c.Flags)
	if c.Feed != nil {
		n += len(c.Feed.Changes)
	}
	return int64(len(key)+2*len(c.JSON)+256*n) + 256
}

// CollectionStats is a snapshot of the collection cache.
type CollectionStats struct {
	Hits, Misses, Evictions int64
	Entries                 int
	Bytes                   int64 // estimated, within Options.CollectionBytes
	Revision                int64 // of every result held; -1 none yet
}

// CollectionStats returns the collection cache's counters and size.
func (s *Store) CollectionStats() CollectionStats {
	c := s.colls
	c.mu.Lock()
	st := CollectionStats{Entries: len(c.entries), Bytes: c.bytes, Revision: c.rev}
	c.mu.Unlock()
	st.Hits, st.Misses, st.Evictions = c.hits.Load(), c.misses.Load(), c.evictions.Load()
	return st
}
