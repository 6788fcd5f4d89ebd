package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

// Collections (List, Count, ModifiedSince) may be served from memory (the
// tiered store caches them by revision). These cases read a collection,
// write, and read it again: a write through the store is in its very next
// read; a write through another node sharing the storage (SetPeer) is in
// it once that node's announcement has arrived; and under concurrent
// writes no read goes back to an older version than one seen before.

var collectionCases = []testCase{
	{"Collections/ReadYourWrites", testCollectionsReadYourWrites},
	{"Collections/ConcurrentWrites", testCollectionsConcurrentWrites},
}

var peerCases = []peerCase{
	{"Collections/WriteOnAnotherNode", testCollectionsWriteOnPeer},
	{"Collections/ConcurrentWritesOnTwoNodes", testCollectionsConcurrentOnPeer},
	{"Changes/RetentionOnAnotherNode", testChangesRetentionOnPeer},
}

// Peer is another node over the storage of the store under test (a
// second sidecar on the same source and bus): what is written through it
// must reach the store's reads within Within.
type Peer struct {
	Store  flagcache.Store
	Within time.Duration // default 10s
}

var peers sync.Map // *testing.T -> Peer

// SetPeer registers the peer of the store a NewStore factory is about to
// return for t; the cases of writes on another node skip without one.
func SetPeer(t *testing.T, p Peer) {
	if p.Within <= 0 {
		p.Within = 10 * time.Second
	}
	peers.Store(t, p)
	t.Cleanup(func() { peers.Delete(t) })
}

type peerCase struct {
	name string
	fn   func(t *testing.T, s flagcache.Store, p Peer)
}

func runPeerCases(t *testing.T, newStore NewStore) {
	for _, c := range peerCases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			p, ok := peers.Load(t)
			if !ok {
				t.Skip("the store has no peer node (storetest.SetPeer)")
			}
			c.fn(t, s, p.(Peer))
		})
	}
}

// view is what the collection reads of a store say: List's ids with
// versions, Count, and ModifiedSince's ids.
type view struct {
	list     map[string]int64
	order    []string
	count    int
	modified []string
}

func readView(t *testing.T, s flagcache.Store) view {
	t.Helper()
	q := flagcache.Query{Tags: []string{"c"}}
	l := mustList(t, s, q)
	n, err := s.Count(ctxFor(t), q)
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	m, err := s.ModifiedSince(ctxFor(t), time.Time{})
	if err != nil {
		t.Fatalf("ModifiedSince: %v", err)
	}
	v := view{list: map[string]int64{}, order: ids(l), count: n, modified: ids(m)}
	for _, f := range l {
		v.list[string(f.Definition.ID)] = f.Version
	}
	return v
}

func (v view) String() string {
	return fmt.Sprintf("list %v (versions %v), count %d, modifiedSince %v", v.order, v.list, v.count, v.modified)
}

// wantView checks that v lists exactly want (id → version), in name order.
func wantView(t *testing.T, what string, v view, want map[string]int64) {
	t.Helper()
	ok := len(v.list) == len(want) && v.count == len(want) && len(v.modified) == len(want)
	for id, ver := range want {
		ok = ok && v.list[id] == ver
	}
	if !ok {
		t.Fatalf("%s: %v; want versions %v", what, v, want)
	}
}

// Each write is in the very next List, Count and ModifiedSince of the
// store it went through, however often they were read before.
func testCollectionsReadYourWrites(t *testing.T, s flagcache.Store) {
	want := map[string]int64{}
	step := func(what string) {
		t.Helper()
		for range 2 { // the second read may come from memory
			wantView(t, what, readView(t, s), want)
		}
	}
	step("empty")
	a := mustCreate(t, s, flag("a", "A", withTags("c")))
	want["a"] = a.Version
	step("after creating a")
	b := mustCreate(t, s, flag("b", "B", withTags("c")))
	want["b"] = b.Version
	step("after creating b")
	a2 := mustUpdate(t, s, a.Definition.Clone(), a.Version)
	want["a"] = a2.Version
	step("after updating a")
	mustDelete(t, s, "b", b.Version)
	delete(want, "b")
	step("after deleting b")
	untagged := a2.Definition.Clone()
	untagged.Metadata.Tags = nil
	mustUpdate(t, s, untagged, a2.Version)
	if v := readView(t, s); len(v.list) != 0 || v.count != 0 {
		t.Fatalf("after untagging a: %v; want an empty list", v)
	}
}

// Writers update flags while readers list them: no reader sees a flag go
// back to an older version than it listed before, and once the writers are
// done every read shows their last versions.
func testCollectionsConcurrentWrites(t *testing.T, s flagcache.Store) {
	concurrentWrites(t, s, []flagcache.Store{s, s}, 0)
}

func testCollectionsWriteOnPeer(t *testing.T, s flagcache.Store, p Peer) {
	mustCreate(t, s, flag("a", "A", withTags("c")))
	want := map[string]int64{"a": 1}
	wantView(t, "before", readView(t, s), want)
	wantView(t, "before, again", readView(t, s), want)
	st := mustCreate(t, p.Store, flag("b", "B", withTags("c")))
	want["b"] = st.Version
	eventuallyView(t, s, p.Within, "after a create on the peer", want)
	st = mustUpdate(t, p.Store, st.Definition.Clone(), st.Version)
	want["b"] = st.Version
	eventuallyView(t, s, p.Within, "after an update on the peer", want)
	mustDelete(t, p.Store, "a", 1)
	delete(want, "a")
	eventuallyView(t, s, p.Within, "after a delete on the peer", want)
}

func testCollectionsConcurrentOnPeer(t *testing.T, s flagcache.Store, p Peer) {
	concurrentWrites(t, s, []flagcache.Store{s, p.Store}, p.Within)
}

// eventuallyView polls s's collections until they show want: reads in
// between may still show the state before the write, never another one.
func eventuallyView(t *testing.T, s flagcache.Store, within time.Duration, what string, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := readView(t, s)
		ok := len(v.list) == len(want) && v.count == len(want) && len(v.modified) == len(want)
		for id, ver := range want {
			ok = ok && v.list[id] == ver
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %v still %v; want versions %v", what, within, v, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// concurrentWrites runs one writer per store of writers (each updating its
// own flags) against readers listing s. within is how long s may take to
// show the peer's last writes (0: at once).
func concurrentWrites(t *testing.T, s flagcache.Store, writers []flagcache.Store, within time.Duration) {
	const flagsPerWriter, updates, readers = 3, 10, 3
	want := map[string]int64{}
	var mu sync.Mutex
	for w := range writers {
		for i := range flagsPerWriter {
			id := fmt.Sprintf("w%d-%d", w, i)
			mustCreate(t, s, flag(id, id, withTags("c")))
			want[id] = 1
		}
	}
	done := make(chan struct{})
	var readersWG, writersWG sync.WaitGroup
	for range readers {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			seen := map[string]int64{}
			for {
				select {
				case <-done:
					return
				default:
				}
				l, err := s.List(ctxFor(t), flagcache.Query{Tags: []string{"c"}})
				if err != nil {
					t.Errorf("List: %v", err)
					return
				}
				for _, f := range l {
					id := string(f.Definition.ID)
					if f.Version < seen[id] {
						t.Errorf("List went back: %s at version %d after %d", id, f.Version, seen[id])
						return
					}
					seen[id] = f.Version
				}
			}
		}()
	}
	for w, ws := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for u := range updates {
				id := fmt.Sprintf("w%d-%d", w, u%flagsPerWriter)
				cur, err := ws.Get(ctxFor(t), flagcache.ID(id))
				if err != nil {
					t.Errorf("Get(%s): %v", id, err)
					return
				}
				st, err := ws.Update(ctxFor(t), cur.Definition.Clone(), 0)
				if err != nil {
					t.Errorf("Update(%s): %v", id, err)
					return
				}
				mu.Lock()
				want[id] = max(want[id], st.Version)
				mu.Unlock()
			}
		}()
	}
	writersWG.Wait()
	close(done)
	readersWG.Wait()
	if t.Failed() {
		return
	}
	if within == 0 {
		wantView(t, "after the writes", readView(t, s), want)
		return
	}
	eventuallyView(t, s, within, "after the writes on both nodes", want)
}

// RunCollections runs only the collection cases (those of Run and those
// of writes on another node), for a set-up too slow to run the whole
// suite twice.
func RunCollections(t *testing.T, newStore NewStore) {
	for _, c := range collectionCases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newStore(t)) })
	}
	runPeerCases(t, newStore)
}
