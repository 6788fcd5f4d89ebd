package tiered_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/tiered"
)

// oddShapes are definitions another writer may store that flagcache does
// not model (after the id), and bytes that are not JSON at all.
var oddShapes = []struct{ name, raw string }{
	{"tags-a-string", `{"id":"odd","name":"Odd tags","kind":"boolean","default_value":true,"metadata":{"tags":"t","owner":5}}`},
	{"environments-an-array", `{"id":"odd","name":"Odd environments","kind":"boolean","default_value":true,"environments":["production"]}`},
	{"name-a-number", `{"id":"odd","name":5,"kind":"boolean","default_value":true}`},
	{"created_at-not-a-timestamp", `{"id":"odd","name":"Odd created","kind":"boolean","default_value":true,"metadata":{"created_at":"yesterday"}}`},
	{"not-an-object", `[1,{"a":null}]`},
	{"deeper-than-encoding-json", `{"id":"odd","name":"Deep","kind":"json","default_value":` + strings.Repeat(`{"a":`, 11000) + `1` + strings.Repeat(`}`, 11000) + `}`},
	{"not-json", `{"name": 12`},
}

// failingFeed is a source whose change feed fails (not as unavailable:
// as a source answering something the sidecar cannot use) while fail is
// set, the way the feed failed on an odd row before issue 14.
type failingFeed struct {
	*memstore.Store
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *failingFeed) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return nil, errors.New("feed failure injected by the test")
	}
	return f.Store.Changes(ctx, after, limit)
}

// TestOddRowAtLowestRevision: a row the daemon cannot model, written
// behind the store's back, is the lowest revision of the change feed, the
// first change both a rebase and the Redis repair replay read. For every
// shape: a sidecar starting on that source takes its baseline past it
// with no purge and no failed repair; its replay into Redis goes past it,
// so a value Redis holds stale (a write its writer never put in Redis) is
// repaired; a failed repair purges the LRU once and the rebase that
// follows (from revision 0, the odd row first) succeeds, with no purge
// loop; and later writes, through the sidecar and behind its back, are
// served.
func TestOddRowAtLowestRevision(t *testing.T) {
	for _, shape := range oddShapes {
		t.Run(shape.name, func(t *testing.T) {
			c := ctx(t)
			src := &failingFeed{Store: memstore.New(memstore.Options{})}
			if err := src.WriteRaw(c, "odd", []byte(shape.raw)); err != nil {
				t.Fatal(err)
			}
			v1, err := src.Create(c, mustFlag(t, "a"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.Create(c, mustFlag(t, "b")); err != nil {
				t.Fatal(err)
			}
			// Redis holds a at v1; the source moves it to v2 without Redis
			// hearing of it (a writer killed between the two).
			_, client := miniClient(t)
			cache := rediskv.NewCache(client, rediskv.CacheOptions{Prefix: "odd:cache"})
			if _, err := cache.PutIfNewer(c, rediskv.Entry{ID: "a", Version: v1.Version, Flag: v1}); err != nil {
				t.Fatal(err)
			}
			def := v1.Definition.Clone()
			def.Description = "v2, written behind Redis's back"
			v2, err := src.Update(c, def, v1.Version)
			if err != nil {
				t.Fatal(err)
			}

			n := newNode(t, src, nodeConfig{client: client, prefix: "odd", opts: tiered.Options{ResyncInterval: 5 * time.Millisecond, BreakerCooldown: 5 * time.Millisecond}})
			if st := n.Stats(); !st.Current || st.AppliedRevision != v2.Revision || st.Purges != 0 || st.RepairFailures != 0 {
				t.Fatalf("after the start-up rebase: current %v, applied %d (want %d), %d purges, %d failed repairs",
					st.Current, st.AppliedRevision, v2.Revision, st.Purges, st.RepairFailures)
			}
			eventually(t, "the Redis replay to repair a past the odd row", func() bool {
				e, ok, err := cache.Get(c, "a")
				return err == nil && ok && e.Version == v2.Version
			})
			odd, err := n.Get(c, "odd")
			if err != nil || odd.Malformed == "" {
				t.Fatalf("Get of the odd row: %+v, %v; want it served, marked malformed", odd, err)
			}
			if got, err := n.Get(c, "a"); err != nil || got.Version != v2.Version {
				t.Fatalf("Get(a) = %+v, %v; want v%d", got, err, v2.Version)
			}

			// A repair that fails purges the LRU once; the rebase after it
			// reads the feed from 0, the odd row first, and succeeds.
			for range 3 {
				if _, err := n.Get(c, "b"); err != nil { // in the LRU
					t.Fatal(err)
				}
			}
			src.fail.Store(true)
			eventually(t, "a repair to fail and purge", func() bool { return n.Stats().Purges == 1 })
			src.fail.Store(false)
			eventually(t, "the rebase after the purge", func() bool { return n.Stats().Current })
			resyncs := n.Stats().Resyncs
			eventually(t, "three more repairs", func() bool { return n.Stats().Resyncs >= resyncs+3 })
			if st := n.Stats(); st.Purges != 1 || !st.Current {
				t.Fatalf("after the rebase: %d purges (want 1: no purge loop), current %v", st.Purges, st.Current)
			}
			hits := n.Stats().LRUHits
			for range 3 {
				if _, err := n.Get(c, "b"); err != nil {
					t.Fatal(err)
				}
			}
			if got := n.Stats().LRUHits - hits; got < 2 {
				t.Errorf("the LRU served %d of 3 reads after the rebase: it is not working", got)
			}

			// Later writes are served: one through the sidecar, one behind
			// its back (found by the periodic repair).
			bdef := mustFlag(t, "b")
			bdef.Description = "through the sidecar"
			b2, err := n.Update(c, bdef, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := n.Get(c, "b"); err != nil || got.Version != b2.Version {
				t.Fatalf("Get(b) after its update = %+v, %v; want v%d", got, err, b2.Version)
			}
			def = v2.Definition.Clone()
			def.Description = "v3, behind the sidecar's back"
			v3, err := src.Update(c, def, v2.Version)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the write behind the sidecar's back to be served", func() bool {
				got, err := n.Get(c, "a")
				return err == nil && got.Version == v3.Version
			})
			if st := n.Stats(); st.Purges != 1 {
				t.Errorf("%d purges at the end, want 1", st.Purges)
			}
		})
	}
}
