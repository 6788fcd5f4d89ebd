package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/vcache"
	"github.com/flagcache/flagcache/wire"
)

// entry is a cached read: a flag, or (stored nil) its absence at version
// (the tombstone's version, or 0 when the daemon just said not found).
type entry struct {
	stored  *flagcache.Stored
	version int64
}

// Version implements vcache.Versioned.
func (e entry) Version() int64 { return e.version }

func entryOf(s *flagcache.Stored) entry {
	if s == nil {
		return entry{}
	}
	return entry{stored: s, version: s.Version}
}

// fillToken is taken before a remote read whose answer may be cached: the
// answer is installed only if no purge happened meanwhile and the watch
// had a cursor when the read began.
type fillToken struct {
	tok vcache.Token
	ok  bool
}

// Refresh states of an id whose cached copy an event dropped.
const (
	refreshQueued = iota + 1
	refreshInFlight
)

// localCache is the client's in-process cache: the versioned cache of
// internal/vcache (install-if-newer, announced versions, fill tokens,
// purge), the same core as tiered's LRU. The other fields are guarded by
// mu (taken before the core's own locks); the counters are atomic so
// Stats does not take it.
type localCache struct {
	vc *vcache.Cache[entry]

	mu         sync.Mutex
	refreshing map[flagcache.ID]int
	// coherent: the watch stream is open and its backlog, up to the
	// revision the daemon had when it opened, is applied: entries are
	// current.
	coherent bool
	// resumable: a stream has opened, so the watch has a cursor, and
	// every write after it will be applied, if only when the stream is
	// back: an answer read from now on may be cached even while the
	// stream is down (get does not serve it until it is coherent again).
	// Before, a write between the read and the first cursor would never
	// drop it.
	resumable bool
	revision  int64 // the last event applied

	wake  chan struct{} // the refresher has work
	watch *watchLoop

	hits, misses, fills, invalidations, refreshes, purges, events atomic.Uint64
}

func newLocalCache(size int) *localCache {
	return &localCache{
		vc:         vcache.New[entry](vcache.Options{Size: size}),
		refreshing: map[flagcache.ID]int{},
		wake:       make(chan struct{}, 1),
	}
}

// startCache runs the cache's watch loop and refresher until Close.
func (c *Client) startCache() {
	lc := c.cache
	lc.watch = &watchLoop{c: c, cursor: FromNow,
		onEvent:    func(_ context.Context, ev Event) bool { lc.apply(ev); return true },
		onState:    lc.streamState,
		onCaughtUp: func() { lc.setCoherent(true) },
	}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		lc.watch.run(c.ctx, nil)
	}()
	go func() {
		defer c.wg.Done()
		c.refresher()
	}()
}

// getCached is GetHit with a local cache: the cached copy while the cache
// is coherent, else the daemon's answer, cached. Reads through one client
// do not go back: an answer older than a copy the client holds gives way
// to that copy, one older than a version the client knows of is asked
// again (the daemon's own cache lags the feed its watch reads), and the
// copy served when the daemon cannot be reached is the newest the client
// read.
func (c *Client) getCached(ctx context.Context, id flagcache.ID) (flagcache.Hit, error) {
	lc := c.cache
	if e, ok := lc.get(id); ok {
		return e.hit(id)
	}
	fill := lc.beginFill()
	for attempt := 0; ; attempt++ {
		hit, err := c.getRemote(ctx, id)
		if c.beforeInstall != nil {
			c.beforeInstall(id)
		}
		switch {
		case err == nil:
			lc.install(fill, id, entryOf(hit.Stored))
			if e, ok := lc.newer(id, hit.Stored.Version); ok {
				return e.hit(id)
			}
			if hit.Stored.Version >= lc.vc.Floor(id) {
				return hit, nil
			}
			// Behind a version the watch announced: ask again, and
			// past the retries serve it marked stale.
			if attempt >= c.retries || sleep(ctx, c.jitter(attempt, 0)) != nil {
				hit.Stale = true
				return hit, nil
			}
			continue
		case isNotFound(err):
			lc.install(fill, id, entry{})
		case isUnavailable(err):
			if e, ok := lc.peek(id); ok && e.stored != nil {
				return flagcache.Hit{Stored: e.stored, Tier: TierLocal, Stale: true}, nil
			}
		}
		return hit, err
	}
}

// hit is the read e answers: the flag, or not found for a tombstone.
func (e entry) hit(id flagcache.ID) (flagcache.Hit, error) {
	if e.stored == nil {
		return flagcache.Hit{}, notFound(id)
	}
	return flagcache.Hit{Stored: e.stored, Tier: TierLocal}, nil
}

// get returns the cached entry for id while the cache is coherent.
func (lc *localCache) get(id flagcache.ID) (entry, bool) {
	lc.mu.Lock()
	var e entry
	ok := lc.coherent
	if ok {
		e, ok = lc.vc.Get(id, always)
	}
	lc.mu.Unlock()
	if ok {
		lc.hits.Add(1)
	} else {
		lc.misses.Add(1)
	}
	return e, ok
}

// peek returns the cached entry for id, coherent or not (for serving a
// stale copy when the daemon cannot be reached).
func (lc *localCache) peek(id flagcache.ID) (entry, bool) { return lc.vc.Peek(id) }

func always(entry) bool { return true }

func (lc *localCache) beginFill() fillToken {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return fillToken{tok: lc.vc.Begin(), ok: lc.resumable}
}

// install records that id exists at e's version (an answer of the daemon,
// so no older copy is served after it, not even as a stale fallback) and
// caches e unless the watch had no cursor when the fill began, a purge
// happened since, the watch announced a newer version, or the cache holds
// a newer one.
func (lc *localCache) install(tok fillToken, id flagcache.ID, e entry) {
	if e.version > 0 {
		lc.vc.Announce(id, e.version, vcache.UnknownRevision)
	}
	if tok.ok && lc.vc.Install(tok.tok, id, e) {
		lc.fills.Add(1)
	}
}

// newer returns the cached entry of id if it is newer than version: the
// daemon answered with a copy older than one this client holds (its own
// cache lags the feed the watch reads), and reads through one client must
// not go back.
func (lc *localCache) newer(id flagcache.ID, version int64) (entry, bool) {
	e, ok := lc.vc.Peek(id)
	return e, ok && e.version > version
}

func (lc *localCache) drop(id flagcache.ID) { lc.vc.Remove(id) }

// apply takes one watch event: a newer version drops the cached copy (a
// delete leaves a tombstone in its place, an upsert queues a refresh so a
// flag in use stays cached); OpResync purges everything.
func (lc *localCache) apply(ev Event) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.events.Add(1)
	lc.revision = ev.Revision
	if ev.Op == OpResync {
		lc.vc.Purge() // the versions announced stay: they only protect
		clear(lc.refreshing)
		lc.purges.Add(1)
		return
	}
	cur, cached := lc.vc.Peek(ev.ID)
	if cached && cur.version < ev.Version && ev.Op == flagcache.OpDelete {
		lc.vc.ReplaceIfCached(ev.ID, entry{version: ev.Version}) // a tombstone in its place
	}
	lc.vc.Announce(ev.ID, ev.Version, ev.Revision) // drops older copies
	switch {
	case cached && cur.version < ev.Version:
		lc.invalidations.Add(1)
		if ev.Op == flagcache.OpUpsert {
			lc.queueRefresh(ev.ID)
		}
	case !cached && lc.refreshing[ev.ID] != 0 && ev.Op == flagcache.OpUpsert:
		lc.queueRefresh(ev.ID) // written again while its refresh was pending
	}
}

// queueRefresh must be called with mu held.
func (lc *localCache) queueRefresh(id flagcache.ID) {
	lc.refreshing[id] = refreshQueued
	select {
	case lc.wake <- struct{}{}:
	default:
	}
}

func (lc *localCache) setCoherent(open bool) {
	lc.mu.Lock()
	lc.coherent = open
	lc.mu.Unlock()
}

// streamState hears a stream open or end: either way the cache is not
// coherent until a backlog is applied; once one has opened, the watch
// has a cursor.
func (lc *localCache) streamState(open bool) {
	lc.mu.Lock()
	lc.coherent = false
	lc.resumable = lc.resumable || open
	lc.mu.Unlock()
}

// refresher re-reads, in batches, the flags whose cached copies events
// dropped, so reads of a flag in use stay local after it changes.
func (c *Client) refresher() {
	lc := c.cache
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-lc.wake:
		}
		lc.mu.Lock()
		var ids []flagcache.ID
		for id, st := range lc.refreshing {
			if st != refreshQueued {
				continue
			}
			if cur, ok := lc.vc.Peek(id); ok && cur.version >= lc.vc.Floor(id) {
				delete(lc.refreshing, id) // a write through this client put it back
				continue
			}
			lc.refreshing[id] = refreshInFlight
			ids = append(ids, id)
		}
		// Not gated on coherence: refreshes are queued by the backlog's
		// own events, before it is all applied, and what they read is
		// superseded only by later events, which drop it as they apply.
		tok := fillToken{tok: lc.vc.Begin(), ok: true}
		lc.mu.Unlock()
		slices.Sort(ids)
		for chunk := range slices.Chunk(ids, wire.MaxPage) {
			found, err := c.batchGet(c.ctx, chunk)
			if err != nil {
				continue // the copies are gone already; reads go to the daemon
			}
			for _, id := range chunk {
				if s := found[id]; s != nil {
					lc.install(tok, id, entryOf(s))
					lc.refreshes.Add(1)
				}
			}
		}
		lc.mu.Lock()
		for _, id := range ids {
			if lc.refreshing[id] == refreshInFlight {
				delete(lc.refreshing, id)
			}
		}
		lc.mu.Unlock()
	}
}

// Stats are the counters of a client's local cache and its watch stream.
type Stats struct {
	Hits   uint64 // reads the local cache answered
	Misses uint64 // reads that went to the daemon (or found the cache not coherent)
	Fills  uint64 // entries installed from reads, writes and refreshes
	// Invalidations counts cached copies a watch event dropped or
	// replaced with a tombstone.
	Invalidations uint64
	Refreshes     uint64 // dropped flags re-read in the background
	Purges        uint64 // whole-cache purges after an expired cursor
	Events        uint64 // watch events applied
	Reconnects    uint64 // watch streams opened after the first
	Entries       int    // cached flags and tombstones
	Connected     bool   // the watch stream is open and its backlog applied: reads may be local
	Revision      int64  // the revision of the last event applied
	WatchError    error  // why the last watch stream ended or failed to open
}

// Stats returns the local cache's counters; all zero without
// WithLocalCache.
func (c *Client) Stats() Stats {
	lc := c.cache
	if lc == nil {
		return Stats{}
	}
	lc.mu.Lock()
	st := Stats{Entries: lc.vc.Len(), Connected: lc.coherent, Revision: lc.revision}
	lc.mu.Unlock()
	st.Hits, st.Misses, st.Fills = lc.hits.Load(), lc.misses.Load(), lc.fills.Load()
	st.Invalidations, st.Refreshes, st.Purges = lc.invalidations.Load(), lc.refreshes.Load(), lc.purges.Load()
	st.Events = lc.events.Load()
	if lc.watch != nil {
		if n := lc.watch.reconnects.Load(); n > 0 {
			st.Reconnects = n - 1
		}
		st.WatchError = lc.watch.err()
	}
	return st
}

func isNotFound(err error) bool    { return errors.Is(err, flagcache.ErrNotFound) }
func isUnavailable(err error) bool { return errors.Is(err, flagcache.ErrUnavailable) }
