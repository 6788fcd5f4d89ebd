package tiered_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/tiered"
)

// Attacks on the collection cache from outside: writes that land inside a
// read, a source that goes down and comes back with newer writes, results
// bigger than the budget, queries that differ only in form, and a fleet
// of writers beside a reader.

// interleavingSource commits a write behind the sidecar's back right after
// each List, between ReadList's List and its Count, while storm is set.
type interleavingSource struct {
	*memstore.Store
	storm atomic.Bool
	n     atomic.Int64
}

func (s *interleavingSource) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	page, err := s.Store.List(ctx, q)
	if err == nil && s.storm.Load() {
		d, _ := flagcache.NewBoolean(flagcache.ID(fmt.Sprintf("storm-%04d", s.n.Add(1))), "storm", false)
		if _, werr := s.Store.Create(ctx, d); werr != nil {
			return nil, werr
		}
	}
	return page, err
}

// A write between the List and the Count of ReadList on every attempt:
// whatever comes back, page and total are of one revision, and no result
// is cached at a revision its content is not at.
func TestAdversaryWriteBetweenListAndCount(t *testing.T) {
	src := &interleavingSource{Store: memstore.New(memstore.Options{})}
	s := newNode(t, src, nodeConfig{})
	mustCreateN(t, s, 3, "w")
	src.storm.Store(true)
	for i := range 4 {
		c, err := s.ReadList(ctx(t), flagcache.Query{})
		if err != nil {
			continue // refusing an answer it cannot make consistent is allowed
		}
		if c.Total != len(c.Flags) {
			t.Fatalf("read %d: a whole list of %d flags with total %d at revision %d (page and total of different revisions)", i, len(c.Flags), c.Total, c.Revision)
		}
	}
	src.storm.Store(false)
	eventually(t, "the sidecar catches up", func() bool {
		rev, ok, _ := s.CollectionRevision()
		feed, err := src.Store.Changes(ctx(t), 0, 1)
		return err == nil && ok && rev == feed.Revision
	})
	c := mustReadList(t, s.Store, flagcache.Query{})
	want, _ := src.Store.Count(ctx(t), flagcache.Query{})
	if c.Total != want || len(c.Flags) != want {
		t.Errorf("after the storm: %d flags, total %d; the source has %d", len(c.Flags), c.Total, want)
	}
}

// The source goes down for one sidecar while another writes; when it is
// back, no result of before the write is served as current: every answer
// is either marked stale or holds the write.
func TestAdversaryStaleNeverCurrentAfterReturn(t *testing.T) {
	_, client := miniClient(t)
	mem := memstore.New(memstore.Options{})
	cfg := nodeConfig{client: client, prefix: "adv", opts: tiered.Options{BreakerCooldown: 20 * time.Millisecond}}
	a := newNode(t, mem, cfg)
	srcB := &listingSource{Store: mem}
	b := newNode(t, srcB, cfg)
	mustCreateN(t, a, 3, "s")
	q := flagcache.Query{Tags: []string{"s"}}
	eventually(t, "b at revision 3", func() bool { rev, ok, _ := b.CollectionRevision(); return ok && rev == 3 })
	if c := mustReadList(t, b.Store, q); c.Total != 3 || c.Stale {
		t.Fatalf("before: total %d, stale %v", c.Total, c.Stale)
	}

	srcB.down.Store(true)
	b.Get(ctx(t), "missing") // marks the source down
	d := mustFlag(t, "s-new")
	d.Metadata.Tags = []string{"s"}
	w, err := a.Create(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) bool {
		t.Helper()
		c, err := b.ReadList(ctx(t), q)
		if err != nil || c.Stale {
			return false
		}
		if c.Total != 4 || len(c.Flags) != 4 || c.Revision < w.Revision {
			t.Fatalf("%s: a current answer of %d flags (total %d) at revision %d, without the write at revision %d", when, len(c.Flags), c.Total, c.Revision, w.Revision)
		}
		return true
	}
	for range 20 {
		check("source down")
	}
	srcB.down.Store(false)
	eventually(t, "a current answer after the source is back", func() bool { return check("source back") })
	for range 20 {
		check("source back")
	}
	if n, err := b.Count(ctx(t), q); err != nil || n != 4 {
		t.Errorf("Count after the source is back: %d, %v; want 4", n, err)
	}
}

// One result bigger than the whole byte budget is served (correct, not
// cached) and the cache stays within the budget.
func TestAdversaryResultBiggerThanBudget(t *testing.T) {
	const budget = 4 << 10
	src := &listingSource{Store: memstore.New(memstore.Options{})}
	s := newNode(t, src, nodeConfig{opts: tiered.Options{CollectionBytes: budget}})
	mustCreateN(t, s, 50, "h")
	small := mustReadList(t, s.Store, flagcache.Query{Limit: 1})
	for i := range 3 {
		c := mustReadList(t, s.Store, flagcache.Query{})
		if len(c.Flags) != 50 || c.Total != 50 {
			t.Fatalf("read %d: %d flags, total %d; want 50", i, len(c.Flags), c.Total)
		}
		if st := s.CollectionStats(); st.Bytes > budget {
			t.Fatalf("read %d: the cache holds %d bytes, budget %d", i, st.Bytes, budget)
		}
	}
	lists := src.lists.Load()
	mustReadList(t, s.Store, flagcache.Query{})
	if src.lists.Load() == lists {
		t.Errorf("a result bigger than the budget was served from memory")
	}
	// The big result did not push the small one out.
	lists = src.lists.Load()
	if c := mustReadList(t, s.Store, flagcache.Query{Limit: 1}); src.lists.Load() != lists || string(c.JSON) != string(small.JSON) {
		t.Errorf("the small result was evicted by one that was never cached")
	}
}

// Queries that canonicalize the same share a result; queries that differ
// in their page, or in a filter, never get each other's.
func TestAdversaryQueryForms(t *testing.T) {
	src := &listingSource{Store: memstore.New(memstore.Options{})}
	s := newNode(t, src, nodeConfig{})
	mustCreateN(t, s, 4, "a")
	mustCreateN(t, s, 4, "b")
	ab := mustReadList(t, s.Store, flagcache.Query{Tags: []string{"a", "b"}})
	lists := src.lists.Load()
	ba := mustReadList(t, s.Store, flagcache.Query{Tags: []string{"b", "a", "a"}})
	if src.lists.Load() != lists || string(ab.JSON) != string(ba.JSON) {
		t.Errorf("tags [b a a] not served as [a b] from memory")
	}
	for _, q := range []flagcache.Query{
		{Tags: []string{"a"}}, {Tags: []string{"b"}}, {Limit: 2}, {Offset: 2, Limit: 2}, {Offset: 2},
		{Tags: []string{"a"}, Limit: 3}, {Tags: []string{"a"}, Offset: 3}, {Status: flagcache.StatusActive}, {Owner: "x"},
		{Environment: "production"}, {IncludeArchived: true},
	} {
		for range 2 {
			c := mustReadList(t, s.Store, q)
			want, err := src.Store.List(ctx(t), q)
			if err != nil {
				t.Fatal(err)
			}
			wantN, _ := src.Store.Count(ctx(t), q)
			if fmt.Sprint(idsOf(c.Flags)) != fmt.Sprint(idsOf(want)) || c.Total != wantN {
				t.Errorf("ReadList(%+v) = %v total %d; source %v total %d", q, idsOf(c.Flags), c.Total, idsOf(want), wantN)
			}
			n, err := s.ReadCount(ctx(t), q)
			if err != nil || n.Total != wantN {
				t.Errorf("ReadCount(%+v) = %d, %v; want %d", q, n.Total, err, wantN)
			}
		}
	}
}

// A fleet: writers through two sidecars and plain SQL on Postgres, all on
// the same few flags, beside a reader of sidecar B. Every result at
// revision R holds every acknowledged write at or below R, page and total
// agree, B never goes back on a flag, and once the writes stop B's list
// becomes the source's, at the source's revision.
func TestAdversaryFleetReadsAgainstSource(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	src, schema := pgtest.NewStore(t, pgsource.Options{})
	cfg := nodeConfig{client: realClient(t), prefix: testenv.UniqueName("tiered-adv-")}
	a, b := newNode(t, src, cfg), newNode(t, src, cfg)
	const nFlags = 6
	mustCreateN(t, a, nFlags, "f")
	raw := pgtest.RawWriter(t, schema)

	type ack struct {
		id           flagcache.ID
		version, rev int64
	}
	var (
		mu   sync.Mutex
		acks []ack
	)
	type obs struct {
		rev      int64
		versions map[flagcache.ID]int64
	}
	var seen []obs
	var deadlocks atomic.Int64 // plain SQL upserts and pgsource writes lock in opposite orders
	stop := make(chan struct{})
	var wg sync.WaitGroup
	writer := func(s *node, k uint64) {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(uint64(seed), k))
		for {
			select {
			case <-stop:
				return
			default:
			}
			id := flagcache.ID(fmt.Sprintf("f-%03d", rng.IntN(nFlags)))
			d := mustFlag(t, string(id))
			d.Metadata.Tags = []string{"f"}
			d.Status = []flagcache.Status{flagcache.StatusActive, flagcache.StatusInactive}[rng.IntN(2)]
			st, err := s.Update(context.Background(), d, 0)
			if isDeadlock(err) {
				deadlocks.Add(1)
				continue
			}
			if err != nil {
				t.Errorf("update %s: %v", id, err)
				return
			}
			mu.Lock()
			acks = append(acks, ack{id, st.Version, st.Revision})
			mu.Unlock()
		}
	}
	wg.Add(3)
	go writer(a, 1)
	go writer(b, 2)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(uint64(seed), 3))
		for {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("f-%03d", rng.IntN(nFlags))
			body := fmt.Sprintf(`{"id":%q,"name":%q,"kind":"boolean","default_value":false,"status":"active","metadata":{"tags":["f"]}}`, id, id)
			err := raw(context.Background(), flagcache.ID(id), []byte(body))
			if isDeadlock(err) {
				deadlocks.Add(1)
				continue
			}
			if err != nil {
				t.Errorf("raw write %s: %v", id, err)
				return
			}
		}
	}()
	last := map[flagcache.ID]int64{}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		c, err := b.ReadList(ctx(t), flagcache.Query{Tags: []string{"f"}})
		if err != nil {
			t.Fatalf("ReadList: %v", err)
		}
		if c.Total != len(c.Flags) || c.Total != nFlags {
			t.Fatalf("ReadList at revision %d: %d flags, total %d; want %d", c.Revision, len(c.Flags), c.Total, nFlags)
		}
		o := obs{c.Revision, map[flagcache.ID]int64{}}
		for _, f := range c.Flags {
			if f.Version < last[f.Definition.ID] {
				t.Fatalf("B went back on %s: version %d after %d", f.Definition.ID, f.Version, last[f.Definition.ID])
			}
			last[f.Definition.ID] = f.Version
			o.versions[f.Definition.ID] = f.Version
		}
		seen = append(seen, o)
		if n, err := b.ReadCount(ctx(t), flagcache.Query{Tags: []string{"f"}}); err != nil || n.Total != nFlags {
			t.Fatalf("ReadCount: %d, %v", n.Total, err)
		}
	}
	close(stop)
	wg.Wait()
	for _, o := range seen {
		for _, w := range acks {
			if w.rev <= o.rev && o.versions[w.id] < w.version {
				t.Fatalf("a result at revision %d holds %s at version %d, without the write of version %d at revision %d", o.rev, w.id, o.versions[w.id], w.version, w.rev)
			}
		}
	}
	t.Logf("%d results checked against %d acknowledged writes (%d writes lost to a deadlock)", len(seen), len(acks), deadlocks.Load())

	feed, err := src.Changes(ctx(t), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := src.List(ctx(t), flagcache.Query{Tags: []string{"f"}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's list is the source's", func() bool {
		c := mustReadList(t, b.Store, flagcache.Query{Tags: []string{"f"}})
		if c.Revision != feed.Revision || len(c.Flags) != len(want) {
			return false
		}
		for i := range want {
			if c.Flags[i].Version != want[i].Version || c.Flags[i].Definition.ID != want[i].Definition.ID {
				return false
			}
		}
		return true
	})
}

// isDeadlock: Postgres aborted the write as one side of a deadlock (a
// plain SQL upsert takes the revision counter before the flag's row, as
// its BEFORE INSERT trigger fires first; pgsource takes them the other
// way round).
func isDeadlock(err error) bool { return err != nil && strings.Contains(err.Error(), "40P01") }
