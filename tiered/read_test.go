package tiered_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

// A thousand concurrent Gets of one cold id make exactly one source read,
// and every caller gets the same value.
func TestMissStormOneSourceRead(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	if _, err := src.Create(ctx(t), mustFlag(t, "cold")); err != nil {
		t.Fatal(err)
	}
	// No Redis: a new sidecar replays the feed's tail into Redis, which
	// would warm it; here the id must be cold in every cache.
	n := newNode(t, src, nodeConfig{})

	const callers = 1000
	var wg sync.WaitGroup
	start := make(chan struct{})
	got := make([]*flagcache.Stored, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = n.Get(ctx(t), "cold")
		}()
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("caller %d got a different value (%p vs %p)", i, got[i], got[0])
		}
	}
	if reads := src.gets.Load(); reads != 1 {
		t.Errorf("source reads: got %d, want 1", reads)
	}
	st := n.Stats()
	t.Logf("1000 concurrent cold reads: %d source read, %d shared a load, %d LRU hits", src.gets.Load(), st.Shared, st.LRUHits)
}

// The race: a fill reads version 4 from the source; a write publishes
// version 5; then the fill tries to install 4. Version 4 must never be
// served once the invalidation has arrived — not to later readers, and not
// to the reader waiting on that very fill.
func TestFillRacingInvalidation(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	_, c := miniClient(t)
	a := newNode(t, src, nodeConfig{client: c, prefix: "race", noCache: true})
	b := newNode(t, src, nodeConfig{client: c, prefix: "race"})

	def := mustFlag(t, "f")
	st, err := b.Create(ctx(t), def)
	if err != nil {
		t.Fatal(err)
	}
	for st.Version < 4 {
		if st, err = b.Update(ctx(t), def, st.Version); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "A to hear B's writes", func() bool { return a.Stats().InvalidationsReceived >= 4 })

	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	tiered.SetBeforeInstall(a.Store, func(id flagcache.ID) {
		once.Do(func() {
			close(paused)
			<-release
		})
	})
	result := make(chan *flagcache.Stored, 1)
	go func() {
		got, err := a.Get(context.Background(), "f")
		if err != nil {
			t.Errorf("Get: %v", err)
		}
		result <- got
	}()
	<-paused // the fill holds version 4
	before := a.Stats().InvalidationsReceived
	if _, err := b.Update(ctx(t), def, 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A to hear version 5", func() bool { return a.Stats().InvalidationsReceived > before })
	close(release)

	if got := <-result; got == nil || got.Version != 5 {
		t.Fatalf("the reader waiting on the raced fill got %+v, want version 5", got)
	}
	for range 3 {
		got, err := a.Get(ctx(t), "f")
		if err != nil || got.Version != 5 {
			t.Fatalf("Get after the race: %+v, %v; want version 5", got, err)
		}
	}
}

// Two sidecars on one Redis and one source: a write through A is seen by
// B's next read once the invalidation arrives.
func TestWriteSeenByOtherNode(t *testing.T) {
	src := memstore.New(memstore.Options{})
	_, c := miniClient(t)
	// A Redis call that times out under load goes to the source: give
	// them time, since the test asserts which tier served.
	opts := tiered.Options{CacheTimeout: 5 * time.Second}
	a := newNode(t, src, nodeConfig{client: c, prefix: "two", opts: opts})
	b := newNode(t, src, nodeConfig{client: c, prefix: "two", opts: opts})
	def := mustFlag(t, "shared")
	st, err := a.Create(ctx(t), def)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx(t), "shared"); err != nil || got.Version != 1 {
		t.Fatalf("B Get: %+v, %v", got, err)
	}
	if h, _ := b.GetHit(ctx(t), "shared"); h.Tier != flagcache.TierLRU {
		t.Fatalf("B's second read came from %s, want lru", h.Tier)
	}
	before := b.Stats().InvalidationsReceived
	if _, err := a.Update(ctx(t), def, st.Version); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to hear the update", func() bool { return b.Stats().InvalidationsReceived > before })
	h, err := b.GetHit(ctx(t), "shared")
	if err != nil || h.Stored.Version != 2 {
		t.Fatalf("B after invalidation: %+v, %v; want version 2", h.Stored, err)
	}
	// From Redis (A wrote version 2 there), or from the LRU when B's
	// start-up repair ran late and refreshed its copy from the feed.
	if h.Tier == flagcache.TierSource {
		t.Errorf("B refilled from %s, want redis (A wrote version 2 there)", h.Tier)
	}

	// A delete is seen too, and a re-create clears B's negative entry.
	before = b.Stats().InvalidationsReceived
	if _, err := a.Delete(ctx(t), "shared", 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to hear the delete", func() bool { return b.Stats().InvalidationsReceived > before })
	if _, err := b.Get(ctx(t), "shared"); !errors.Is(err, flagcache.ErrNotFound) {
		t.Fatalf("B after delete: %v, want not found", err)
	}
	before = b.Stats().InvalidationsReceived
	if _, err := a.Create(ctx(t), def); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to hear the re-create", func() bool { return b.Stats().InvalidationsReceived > before })
	if got, err := b.Get(ctx(t), "shared"); err != nil || got.Version != 4 {
		t.Fatalf("B after re-create: %+v, %v; want version 4", got, err)
	}
}

// Negative entries are cached briefly and cleared by a create.
func TestNegativeEntries(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	n := newNode(t, src, nodeConfig{})
	for range 3 {
		if _, err := n.Get(ctx(t), "absent"); !errors.Is(err, flagcache.ErrNotFound) {
			t.Fatalf("Get absent: %v", err)
		}
	}
	if reads := src.gets.Load(); reads != 1 {
		t.Errorf("source reads for a repeated miss: %d, want 1", reads)
	}
	if _, err := n.Create(ctx(t), mustFlag(t, "absent")); err != nil {
		t.Fatal(err)
	}
	if got, err := n.Get(ctx(t), "absent"); err != nil || got.Version != 1 {
		t.Fatalf("Get after create: %+v, %v", got, err)
	}
}

// With the source down, cached ids are still served (marked stale), and
// uncached ones fail fast with ErrUnavailable.
func TestSourceDown(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	n := newNode(t, src, nodeConfig{})
	for _, id := range []string{"cached", "uncached"} {
		if _, err := src.Create(ctx(t), mustFlag(t, id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Get(ctx(t), "cached"); err != nil {
		t.Fatal(err)
	}
	src.down.Store(true)
	// Past the LRU TTL the entry must be reloaded, which fails: the
	// expired copy is served, marked stale.
	tiered.AdvanceClock(n.Store, time.Hour)
	h, err := n.GetHit(ctx(t), "cached")
	if err != nil || h.Stored == nil || !h.Stale {
		t.Fatalf("cached id with the source down: %+v, %v; want a stale hit", h, err)
	}
	start := time.Now()
	_, err = n.Get(ctx(t), "uncached")
	if !errors.Is(err, flagcache.ErrUnavailable) {
		t.Fatalf("uncached id with the source down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("failing read took %v, want fast", d)
	}
	if _, err := n.Update(ctx(t), mustFlag(t, "cached"), 0); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("write with the source down: %v, want ErrUnavailable", err)
	}
	src.down.Store(false)
	h, err = n.GetHit(ctx(t), "cached")
	if err != nil || h.Stale {
		t.Errorf("after the source returned: %+v, %v; want a fresh hit", h, err)
	}
}

// Past its TTL a cached flag stays an LRU hit while resyncs keep confirming
// the cache is current; once they stop (the source is down) the TTL bites
// again and the flag is reloaded — here failing, so served stale.
func TestTTLExtendedByResync(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: 10 * time.Millisecond}})
	if _, err := src.Create(ctx(t), mustFlag(t, "hot")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Get(ctx(t), "hot"); err != nil {
		t.Fatal(err)
	}
	reads := src.gets.Load()
	tiered.AdvanceClock(n.Store, 10*time.Minute) // far past the 60 s TTL
	resyncs := n.Stats().Resyncs
	eventually(t, "a resync after the clock moved", func() bool { return n.Stats().Resyncs > resyncs+1 })
	h, err := n.GetHit(ctx(t), "hot")
	if err != nil || h.Tier != flagcache.TierLRU || h.Stale {
		t.Fatalf("hot flag past its TTL with resyncs running: %+v, %v; want a fresh LRU hit", h, err)
	}
	if got := src.gets.Load(); got != reads {
		t.Errorf("source reads: %d, want %d (no reload)", got, reads)
	}

	src.down.Store(true)
	tiered.AdvanceClock(n.Store, 10*time.Minute)
	h, err = n.GetHit(ctx(t), "hot")
	if err != nil || !h.Stale {
		t.Fatalf("with resyncs failing: %+v, %v; want the flag served stale after a failed reload", h, err)
	}
}

// A flag deleted through another sidecar, with no Redis tier to hold the
// tombstone: the source's "not found" is cached against the announced
// tombstone version instead of being refused as older and re-read on every
// Get.
func TestDeletedFlagReadOnce(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	_, c := miniClient(t)
	a := newNode(t, src, nodeConfig{client: c, prefix: "del", noCache: true})
	b := newNode(t, src, nodeConfig{client: c, prefix: "del"})
	if _, err := b.Create(ctx(t), mustFlag(t, "gone")); err != nil {
		t.Fatal(err)
	}
	del, err := b.Delete(ctx(t), "gone", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Up to the delete's revision, not a count of messages: B's start-up
	// replay into Redis may publish the create a second time, and two
	// messages would then not mean the delete was heard.
	eventually(t, "A to apply the delete", func() bool { return a.Stats().AppliedRevision >= del.Revision })
	reads := src.gets.Load()
	for range 5 {
		if _, err := a.Get(ctx(t), "gone"); !errors.Is(err, flagcache.ErrNotFound) {
			t.Fatalf("Get of a deleted flag: %v", err)
		}
	}
	if got := src.gets.Load() - reads; got != 1 {
		t.Errorf("source reads for 5 Gets of a deleted flag: %d, want 1", got)
	}
}
