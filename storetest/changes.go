package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

var changeCases = []testCase{
	{"Changes/EmptyStore", testChangesEmpty},
	{"Changes/GaplessRevisions", testChangesGapless},
	{"Changes/OrderAndCompaction", testChangesOrderAndCompaction},
	{"Changes/Cursor", testChangesCursor},
	{"Changes/PagingWithLimit", testChangesPaging},
	{"Changes/Tombstones", testChangesTombstones},
	{"Changes/FutureCursor", testChangesFutureCursor},
	{"Changes/Retention", testChangesRetention},
}

func mustChanges(t *testing.T, s flagcache.Store, after int64, limit int) *flagcache.ChangeFeed {
	t.Helper()
	feed, err := s.Changes(ctxFor(t), after, limit)
	if err != nil {
		t.Fatalf("Changes(%d, %d): %v", after, limit, err)
	}
	return feed
}

type change struct {
	rev     int64
	op      flagcache.Op
	id      string
	version int64
}

func summarize(t *testing.T, feed *flagcache.ChangeFeed) []change {
	t.Helper()
	out := make([]change, len(feed.Changes))
	for i, c := range feed.Changes {
		out[i] = change{c.Revision, c.Op, string(c.ID), c.Version}
		switch c.Op {
		case flagcache.OpUpsert:
			if c.Flag == nil {
				t.Errorf("upsert of %s at %d has no flag", c.ID, c.Revision)
				continue
			}
			checkStored(t, c.Flag, string(c.ID), c.Version)
			if c.Flag.Revision != c.Revision {
				t.Errorf("upsert of %s: flag revision %d, change revision %d", c.ID, c.Flag.Revision, c.Revision)
			}
		case flagcache.OpDelete:
			if c.Flag != nil {
				t.Errorf("delete of %s at %d carries a flag", c.ID, c.Revision)
			}
		default:
			t.Errorf("change %d has op %q", c.Revision, c.Op)
		}
	}
	return out
}

func equalChanges(a, b []change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testChangesEmpty(t *testing.T, s flagcache.Store) {
	feed := mustChanges(t, s, 0, 0)
	if feed.Revision != 0 || len(feed.Changes) != 0 {
		t.Errorf("empty store: revision %d, %d changes; want 0, 0", feed.Revision, len(feed.Changes))
	}
}

// Every write takes the next revision: creates, updates and deletes alike.
func testChangesGapless(t *testing.T, s flagcache.Store) {
	var revs []int64
	a := mustCreate(t, s, flag("a", "A"))
	revs = append(revs, a.Revision)
	revs = append(revs, mustCreate(t, s, flag("b", "B")).Revision)
	revs = append(revs, mustUpdate(t, s, a.Definition, 1).Revision)
	revs = append(revs, mustDelete(t, s, "b", 0).Revision)
	revs = append(revs, mustCreate(t, s, flag("b", "B")).Revision)
	for i := 1; i < len(revs); i++ {
		if revs[i] != revs[i-1]+1 {
			t.Fatalf("revisions %v are not consecutive", revs)
		}
	}
	if feed := mustChanges(t, s, 0, 0); feed.Revision != revs[len(revs)-1] {
		t.Errorf("feed revision %d, want the last write's %d", feed.Revision, revs[len(revs)-1])
	}
	// Failed writes take no revision.
	_, err := s.Update(ctxFor(t), a.Definition, 1)
	if _, ok := isConflict(err); !ok {
		t.Fatalf("stale update: %v", err)
	}
	_, err = s.Create(ctxFor(t), flag("a", "A"))
	wantErr(t, "duplicate create", err, flagcache.ErrAlreadyExists)
	next := mustCreate(t, s, flag("c", "C"))
	if next.Revision != revs[len(revs)-1]+1 {
		t.Errorf("after failed writes: revision %d, want %d", next.Revision, revs[len(revs)-1]+1)
	}
}

func testChangesOrderAndCompaction(t *testing.T, s flagcache.Store) {
	a := mustCreate(t, s, flag("a", "A"))   // r1
	mustCreate(t, s, flag("b", "B"))        // r2
	a2 := mustUpdate(t, s, a.Definition, 1) // r3
	del := mustDelete(t, s, "b", 1)         // r4
	c := mustCreate(t, s, flag("c", "C"))   // r5
	r := a.Revision - 1
	want := []change{
		{r + 3, flagcache.OpUpsert, "a", 2},
		{r + 4, flagcache.OpDelete, "b", 2},
		{r + 5, flagcache.OpUpsert, "c", 1},
	}
	feed := mustChanges(t, s, 0, 0)
	if got := summarize(t, feed); !equalChanges(got, want) {
		t.Fatalf("Changes(0):\n got %+v\nwant %+v", got, want)
	}
	if feed.Revision != c.Revision {
		t.Errorf("feed revision %d, want %d", feed.Revision, c.Revision)
	}
	if del.Revision != r+4 {
		t.Errorf("delete revision %d, want %d", del.Revision, r+4)
	}
	sameDefinition(t, feed.Changes[0].Flag.Definition, a2.Definition)
}

func testChangesCursor(t *testing.T, s flagcache.Store) {
	a := mustCreate(t, s, flag("a", "A"))
	b := mustCreate(t, s, flag("b", "B"))
	c := mustCreate(t, s, flag("c", "C"))
	for _, tc := range []struct {
		after int64
		want  []string
	}{
		{0, []string{"a", "b", "c"}},
		{a.Revision, []string{"b", "c"}},
		{b.Revision, []string{"c"}},
		{c.Revision, nil},
	} {
		feed := mustChanges(t, s, tc.after, 0)
		var got []string
		for _, ch := range feed.Changes {
			got = append(got, string(ch.ID))
		}
		if !equalStrings(got, tc.want) {
			t.Errorf("Changes(%d): got %v, want %v", tc.after, got, tc.want)
		}
		if feed.Revision != c.Revision {
			t.Errorf("Changes(%d) revision %d, want %d", tc.after, feed.Revision, c.Revision)
		}
	}
	// A write moves an id past the cursor.
	mustUpdate(t, s, a.Definition, 1)
	feed := mustChanges(t, s, c.Revision, 0)
	if got := summarize(t, feed); len(got) != 1 || got[0].id != "a" || got[0].version != 2 {
		t.Errorf("after updating a: got %+v, want a at version 2", got)
	}
}

func testChangesPaging(t *testing.T, s flagcache.Store) {
	for _, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
		mustCreate(t, s, flag(id, id))
	}
	mustDelete(t, s, "p2", 0)
	full := summarize(t, mustChanges(t, s, 0, 0))
	for _, limit := range []int{1, 2, 4} {
		var walked []change
		var after int64
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			feed := mustChanges(t, s, after, limit)
			if len(feed.Changes) > limit {
				t.Fatalf("limit %d: got %d changes", limit, len(feed.Changes))
			}
			if len(feed.Changes) == 0 {
				break
			}
			walked = append(walked, summarize(t, feed)...)
			after = feed.Changes[len(feed.Changes)-1].Revision
		}
		if !equalChanges(walked, full) {
			t.Errorf("limit %d: paging gave %+v, want %+v", limit, walked, full)
		}
	}
}

func testChangesTombstones(t *testing.T, s flagcache.Store) {
	a := mustCreate(t, s, flag("a", "A"))
	mustUpdate(t, s, a.Definition, 1)
	del := mustDelete(t, s, "a", 2)
	feed := mustChanges(t, s, a.Revision, 0)
	want := []change{{del.Revision, flagcache.OpDelete, "a", 3}}
	if got := summarize(t, feed); !equalChanges(got, want) {
		t.Fatalf("after delete: got %+v, want %+v", got, want)
	}
	again := mustCreate(t, s, flag("a", "A"))
	feed = mustChanges(t, s, 0, 0)
	want = []change{{again.Revision, flagcache.OpUpsert, "a", 4}}
	if got := summarize(t, feed); !equalChanges(got, want) {
		t.Fatalf("after re-create: got %+v, want %+v", got, want)
	}
}

// A cursor above the store's revision belongs to another store (or one that
// was reset): the caller must resync, never wait silently.
func testChangesFutureCursor(t *testing.T, s flagcache.Store) {
	a := mustCreate(t, s, flag("a", "A"))
	_, err := s.Changes(ctxFor(t), a.Revision+100, 0)
	wantErr(t, "Changes past the current revision", err, flagcache.ErrResyncNeeded)
}

func testChangesRetention(t *testing.T, s flagcache.Store) {
	c, ok := s.(flagcache.Compactor)
	if !ok {
		t.Skip("store does not implement flagcache.Compactor")
	}
	a := mustCreate(t, s, flag("a", "A"))
	del := mustDelete(t, s, "a", 1)
	b := mustCreate(t, s, flag("b", "B"))

	// Compacting before the delete keeps the tombstone.
	if err := c.Compact(ctxFor(t), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := summarize(t, mustChanges(t, s, a.Revision, 0)); len(got) != 2 {
		t.Fatalf("early compaction dropped changes: %+v", got)
	}

	if err := c.Compact(ctxFor(t), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := []change{{b.Revision, flagcache.OpUpsert, "b", 1}}
	if got := summarize(t, mustChanges(t, s, 0, 0)); !equalChanges(got, want) {
		t.Errorf("full sync after compaction: got %+v, want %+v", got, want)
	}
	_, err := s.Changes(ctxFor(t), a.Revision, 0)
	if !errors.Is(err, flagcache.ErrResyncNeeded) {
		t.Errorf("cursor %d below the compacted tombstone %d: got %v, want ErrResyncNeeded", a.Revision, del.Revision, err)
	}
	if got := summarize(t, mustChanges(t, s, del.Revision, 0)); !equalChanges(got, want) {
		t.Errorf("cursor at the compacted tombstone: got %+v, want %+v", got, want)
	}
	// The id still remembers its version.
	checkStored(t, mustCreate(t, s, flag("a", "A")), "a", 3)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Compact(ctx, time.Now()); !errors.Is(err, context.Canceled) {
		t.Errorf("Compact with cancelled context: got %v", err)
	}
}

// Tombstones leave the feed by time, with no write (retention, or a
// compaction run by another node): a cursor the store answered a moment
// ago expires at the same revision, and the store must say so rather than
// repeat the page it answered before.
func testChangesRetentionOnPeer(t *testing.T, s flagcache.Store, p Peer) {
	c, ok := p.Store.(flagcache.Compactor)
	if !ok {
		t.Skip("the peer does not implement flagcache.Compactor")
	}
	a := mustCreate(t, s, flag("a", "A"))
	del := mustDelete(t, s, "a", 1)
	b := mustCreate(t, s, flag("b", "B"))
	if got := summarize(t, mustChanges(t, s, a.Revision, 0)); len(got) != 2 {
		t.Fatalf("changes after %d before compaction: %+v, want the delete and b", a.Revision, got)
	}
	if err := c.Compact(ctxFor(t), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Changes(ctxFor(t), a.Revision, 0)
	if !errors.Is(err, flagcache.ErrResyncNeeded) {
		t.Errorf("cursor %d below the tombstone %d another node compacted: got %v, want ErrResyncNeeded", a.Revision, del.Revision, err)
	}
	want := []change{{b.Revision, flagcache.OpUpsert, "b", 1}}
	if got := summarize(t, mustChanges(t, s, 0, 0)); !equalChanges(got, want) {
		t.Errorf("full sync after the compaction: got %+v, want %+v", got, want)
	}
}
