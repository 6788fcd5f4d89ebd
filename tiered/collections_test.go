package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/storetest"
	"github.com/flagcache/flagcache/tiered"
)

// viaCollections is a tiered store whose collection reads all go through
// flagcache.CollectionReader, the way the HTTP API reads them, so the
// conformance suite checks the cached forms (ReadList's page and total,
// ReadChanges, ReadMany) too.
type viaCollections struct {
	*tiered.Store
	t *testing.T
}

func (v viaCollections) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	c, err := v.ReadList(ctx, q)
	if err == nil && q.Offset == 0 && q.Limit == 0 && c.Total != len(c.Flags) {
		v.t.Errorf("ReadList(%+v): total %d beside a whole list of %d (not from one revision)", q, c.Total, len(c.Flags))
	}
	return slices.Clone(c.Flags), err
}

func (v viaCollections) Count(ctx context.Context, q flagcache.Query) (int, error) {
	c, err := v.ReadCount(ctx, q)
	return c.Total, err
}

func (v viaCollections) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	c, err := v.ReadChanges(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	feed := *c.Feed
	feed.Changes = slices.Clone(feed.Changes)
	return &feed, nil
}

func (v viaCollections) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	c, err := v.ReadMany(ctx, ids)
	return c.Found, err
}

func (v viaCollections) ModifiedSincePage(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	c, err := v.ReadModifiedSince(ctx, since, afterID, limit)
	return c.Flags, err
}

// The conformance suite through the collection reads, and with a second
// sidecar on the same source and bus for the cases of writes on another
// node.
func TestConformanceCollections(t *testing.T) {
	t.Run("memstore/lru-only", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			return viaCollections{newNode(t, rawMemstore(t), nodeConfig{}).Store, t}
		})
	})
	t.Run("memstore/miniredis", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			_, c := miniClient(t)
			src := rawMemstore(t)
			cfg := nodeConfig{client: c, prefix: "t"}
			storetest.SetPeer(t, storetest.Peer{Store: newNode(t, src, cfg)})
			return viaCollections{newNode(t, src, cfg).Store, t}
		})
	})
}

// The production shape: Postgres, the real Redis, two sidecars (only the
// collection cases: TestConformancePostgresRedis runs the rest).
func TestConformanceCollectionsPostgresRedis(t *testing.T) {
	storetest.RunCollections(t, func(t *testing.T) flagcache.Store {
		src, _ := pgtest.NewStore(t, pgsource.Options{})
		cfg := nodeConfig{client: realClient(t), prefix: testenv.UniqueName("tiered-coll-")}
		storetest.SetPeer(t, storetest.Peer{Store: newNode(t, src, cfg)})
		return viaCollections{newNode(t, src, cfg).Store, t}
	})
}

// listingSource counts the collection reads that reach the source and can
// be taken down.
type listingSource struct {
	flagcache.Store
	lists, counts atomic.Int64
	down          atomic.Bool
}

func (l *listingSource) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	l.lists.Add(1)
	if l.down.Load() {
		return nil, errInjected
	}
	return l.Store.List(ctx, q)
}

func (l *listingSource) Count(ctx context.Context, q flagcache.Query) (int, error) {
	l.counts.Add(1)
	if l.down.Load() {
		return 0, errInjected
	}
	return l.Store.Count(ctx, q)
}

func (l *listingSource) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if l.down.Load() {
		return nil, errInjected
	}
	return l.Store.Changes(ctx, after, limit)
}

func (l *listingSource) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	if l.down.Load() {
		return nil, errInjected
	}
	return l.Store.Get(ctx, id)
}

func mustCreateN(t *testing.T, s flagcache.Store, n int, tag string) {
	t.Helper()
	for i := range n {
		d := mustFlag(t, fmt.Sprintf("%s-%03d", tag, i))
		d.Metadata.Tags = []string{tag}
		if _, err := s.Create(ctx(t), d); err != nil {
			t.Fatal(err)
		}
	}
}

func mustReadList(t *testing.T, s *tiered.Store, q flagcache.Query) flagcache.Collection {
	t.Helper()
	c, err := s.ReadList(ctx(t), q)
	if err != nil {
		t.Fatalf("ReadList(%+v): %v", q, err)
	}
	return c
}

// A list read twice at one revision reaches the source once; a write moves
// the revision and the next read sees it; the JSON is the flags' encoding.
func TestCollectionsServedFromMemory(t *testing.T) {
	src := &listingSource{Store: memstore.New(memstore.Options{})}
	s := newNode(t, src, nodeConfig{})
	mustCreateN(t, s, 5, "a")
	q := flagcache.Query{Tags: []string{"a"}, Limit: 3}
	first := mustReadList(t, s.Store, q)
	lists := src.lists.Load()
	second := mustReadList(t, s.Store, flagcache.Query{Tags: []string{"a", "a"}, Limit: 3}) // the same query
	if got := src.lists.Load(); got != lists {
		t.Errorf("second read of the same page: %d source lists, want %d", got, lists)
	}
	if len(first.Flags) != 3 || first.Total != 5 || first.Revision != 5 || first.Stale {
		t.Fatalf("first read: %d flags, total %d, revision %d, stale %v; want 3, 5, 5, false", len(first.Flags), first.Total, first.Revision, first.Stale)
	}
	if string(second.JSON) != string(flagcache.AppendStoredList(nil, first.Flags)) || second.Revision != first.Revision {
		t.Errorf("cached read differs: revision %d, JSON %.80s…", second.Revision, second.JSON)
	}
	if rev, ok, stale := s.CollectionRevision(); rev != 5 || !ok || stale {
		t.Errorf("CollectionRevision() = %d, %v, %v; want 5, true, false", rev, ok, stale)
	}

	d := mustFlag(t, "a-000x")
	d.Metadata.Tags = []string{"a"}
	if _, err := s.Create(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	third := mustReadList(t, s.Store, q)
	if third.Revision != 6 || third.Total != 6 || third.Flags[1].Definition.ID != "a-000x" {
		t.Errorf("after a write: revision %d, total %d, page %v; want 6, 6, a-000x second", third.Revision, third.Total, idsOf(third.Flags))
	}
	if st := s.CollectionStats(); st.Hits == 0 || st.Revision != 6 || st.Entries != 1 {
		t.Errorf("CollectionStats() = %+v; want hits, revision 6, one entry (the older revision's dropped)", st)
	}
}

func idsOf(flags []*flagcache.Stored) []flagcache.ID {
	out := make([]flagcache.ID, len(flags))
	for i, f := range flags {
		out[i] = f.Definition.ID
	}
	return out
}

// With the source down, collections cached at the applied revision are
// served marked stale (List, Count and a page alike); one never read fails
// as unavailable; when the source is back they are current again.
func TestCollectionsStaleWhileSourceDown(t *testing.T) {
	src := &listingSource{Store: memstore.New(memstore.Options{})}
	s := newNode(t, src, nodeConfig{opts: tiered.Options{BreakerCooldown: 50 * time.Millisecond}})
	mustCreateN(t, s, 4, "a")
	q := flagcache.Query{Tags: []string{"a"}}
	want := mustReadList(t, s.Store, q)
	if _, err := s.List(ctx(t), q); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Count(ctx(t), q); err != nil {
		t.Fatal(err)
	}

	src.down.Store(true)
	// The next source call fails and marks the source down; the collections
	// are then served from memory without asking it.
	if _, err := s.Get(ctx(t), "missing"); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Fatalf("Get with the source down: %v, want ErrUnavailable", err)
	}
	for range 3 {
		got, err := s.ReadList(ctx(t), q)
		if err != nil || !got.Stale || got.Revision != want.Revision || string(got.JSON) != string(want.JSON) || got.Total != 4 {
			t.Fatalf("ReadList with the source down: revision %d, total %d, stale %v, %v; want the page of revision %d, stale", got.Revision, got.Total, got.Stale, err, want.Revision)
		}
	}
	if l, err := s.List(ctx(t), q); err != nil || len(l) != 4 {
		t.Errorf("List with the source down: %d flags, %v; want 4", len(l), err)
	}
	if n, err := s.Count(ctx(t), q); err != nil || n != 4 {
		t.Errorf("Count with the source down: %d, %v; want 4", n, err)
	}
	if rev, ok, stale := s.CollectionRevision(); rev != want.Revision || !ok || !stale {
		t.Errorf("CollectionRevision() = %d, %v, %v; want %d, true, true", rev, ok, stale, want.Revision)
	}
	if _, err := s.ReadList(ctx(t), flagcache.Query{Owner: "nobody"}); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("a list never read, with the source down: %v, want ErrUnavailable", err)
	}

	src.down.Store(false)
	// A read asks the source again once per cooldown, and finds it back.
	eventually(t, "collections current again", func() bool { return !mustReadList(t, s.Store, q).Stale })
	if got := mustReadList(t, s.Store, q); got.Stale || got.Revision != want.Revision {
		t.Errorf("after the source is back: stale %v, revision %d", got.Stale, got.Revision)
	}
	if rev, ok, stale := s.CollectionRevision(); rev != want.Revision || !ok || stale {
		t.Errorf("CollectionRevision() = %d, %v, %v; want %d, true, false", rev, ok, stale, want.Revision)
	}
}

// A poller's revision stays put until a write anywhere in the fleet: on
// another sidecar (through the invalidation bus), and as plain SQL on
// Postgres (through its notifications); then the list shows the write at
// the new revision.
func TestCollectionRevisionFollowsTheFleet(t *testing.T) {
	src, schema := pgtest.NewStore(t, pgsource.Options{})
	cfg := nodeConfig{client: realClient(t), prefix: testenv.UniqueName("tiered-fleet-")}
	a, b := newNode(t, src, cfg), newNode(t, src, cfg)
	mustCreateN(t, a, 3, "p")
	q := flagcache.Query{Tags: []string{"p"}}
	waitRevision := func(s *node, want int64) {
		t.Helper()
		eventually(t, fmt.Sprintf("revision %d", want), func() bool {
			rev, ok, _ := s.CollectionRevision()
			return ok && rev == want
		})
	}
	waitRevision(b, 3)
	before := mustReadList(t, b.Store, q)
	if before.Revision != 3 || before.Total != 3 {
		t.Fatalf("before: revision %d, total %d; want 3, 3", before.Revision, before.Total)
	}

	d := mustFlag(t, "p-new")
	d.Metadata.Tags = []string{"p"}
	if _, err := a.Create(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	waitRevision(b, 4)
	if got := mustReadList(t, b.Store, q); got.Revision != 4 || got.Total != 4 {
		t.Errorf("after a write on the other sidecar: revision %d, total %d; want 4, 4", got.Revision, got.Total)
	}

	raw := pgtest.RawWriter(t, schema)
	if err := raw(ctx(t), "p-sql", []byte(`{"id":"p-sql","name":"p-sql","kind":"boolean","default_value":false,"metadata":{"tags":["p"]}}`)); err != nil {
		t.Fatal(err)
	}
	waitRevision(b, 5)
	if got := mustReadList(t, b.Store, q); got.Revision != 5 || got.Total != 5 {
		t.Errorf("after a plain SQL write: revision %d, total %d; want 5, 5", got.Revision, got.Total)
	}
}

// The cache stays within its budgets: past them the least recently used
// results go.
func TestCollectionCacheBounded(t *testing.T) {
	const maxBytes, maxEntries = 256 << 10, 40
	s := newNode(t, memstore.New(memstore.Options{}), nodeConfig{opts: tiered.Options{CollectionBytes: maxBytes, CollectionEntries: maxEntries}})
	mustCreateN(t, s, 200, "b")
	for off := range 100 { // pages of 20 flags of ~400 B: ~8 KB of JSON each
		c := mustReadList(t, s.Store, flagcache.Query{Offset: off, Limit: 20})
		if len(c.Flags) != 20 {
			t.Fatalf("page at %d: %d flags", off, len(c.Flags))
		}
		st := s.CollectionStats()
		if st.Bytes > maxBytes || st.Entries > maxEntries {
			t.Fatalf("after %d pages: %d entries, %d bytes; budget %d, %d", off+1, st.Entries, st.Bytes, maxEntries, maxBytes)
		}
	}
	st := s.CollectionStats()
	if st.Evictions == 0 || st.Entries == 0 {
		t.Errorf("CollectionStats() = %+v; want evictions and a full cache", st)
	}
	// The most recent page is still served from memory.
	hits := st.Hits
	mustReadList(t, s.Store, flagcache.Query{Offset: 99, Limit: 20})
	if s.CollectionStats().Hits != hits+1 {
		t.Errorf("the most recent page was evicted")
	}

	off := newNode(t, memstore.New(memstore.Options{}), nodeConfig{opts: tiered.Options{CollectionBytes: -1}})
	mustReadList(t, off.Store, flagcache.Query{})
	if st := off.CollectionStats(); st.Entries != 0 {
		t.Errorf("disabled cache holds %d results", st.Entries)
	}
}
