package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

var readCases = []testCase{
	{"GetMany/MissingAndDuplicates", testGetManyMissingAndDuplicates},
	{"GetMany/Empty", testGetManyEmpty},
	{"GetMany/SkipsDeleted", testGetManySkipsDeleted},
	{"ModifiedSince/Boundaries", testModifiedSinceBoundaries},
	{"ModifiedSince/SeesUpdatesNotDeletes", testModifiedSinceUpdates},
}

func testGetManyMissingAndDuplicates(t *testing.T, s flagcache.Store) {
	a := mustCreate(t, s, flag("a", "A"))
	b := mustCreate(t, s, flag("b", "B"))
	got, err := s.GetMany(ctxFor(t), []flagcache.ID{"a", "missing", "b", "a", "missing"})
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("GetMany: got %d entries (%v), want 2", len(got), keys(got))
	}
	for _, want := range []*flagcache.Stored{a, b} {
		g := got[want.Definition.ID]
		if g == nil {
			t.Fatalf("GetMany: %s missing", want.Definition.ID)
		}
		checkStored(t, g, string(want.Definition.ID), 1)
		sameDefinition(t, g.Definition, want.Definition)
	}
	if _, ok := got["missing"]; ok {
		t.Errorf("GetMany returned an entry for a missing id")
	}
}

func keys(m map[flagcache.ID]*flagcache.Stored) []flagcache.ID {
	out := make([]flagcache.ID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func testGetManyEmpty(t *testing.T, s flagcache.Store) {
	mustCreate(t, s, flag("a", "A"))
	for _, in := range [][]flagcache.ID{nil, {}} {
		got, err := s.GetMany(ctxFor(t), in)
		if err != nil || len(got) != 0 {
			t.Errorf("GetMany(%v) = %v, %v; want empty", in, keys(got), err)
		}
	}
}

func testGetManySkipsDeleted(t *testing.T, s flagcache.Store) {
	mustCreate(t, s, flag("a", "A"))
	mustCreate(t, s, flag("b", "B"))
	mustDelete(t, s, "a", 0)
	got, err := s.GetMany(ctxFor(t), []flagcache.ID{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if g := keys(got); len(g) != 1 || g[0] != "b" {
		t.Errorf("GetMany after delete: got %v, want [b]", g)
	}
}

// modifiedOrder sorts the way ModifiedSince returns: updated_at, then id.
func modifiedOrder(a, b *flagcache.Stored) int {
	if c := a.Definition.Metadata.UpdatedAt.Compare(b.Definition.Metadata.UpdatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.Definition.ID, b.Definition.ID)
}

// checkModifiedSince compares ModifiedSince(since) with what the flags' own
// updated_at values say it must return.
func checkModifiedSince(t *testing.T, s flagcache.Store, since time.Time, live []*flagcache.Stored) {
	t.Helper()
	var want []string
	sorted := slices.Clone(live)
	slices.SortFunc(sorted, modifiedOrder)
	for _, f := range sorted {
		if f.Definition.Metadata.UpdatedAt.After(since) {
			want = append(want, string(f.Definition.ID))
		}
	}
	got, err := s.ModifiedSince(ctxFor(t), since)
	if err != nil {
		t.Fatalf("ModifiedSince(%v): %v", since, err)
	}
	if g := ids(got); !equalStrings(g, want) && !(len(g) == 0 && len(want) == 0) {
		t.Errorf("ModifiedSince(%v): got %v, want %v", since.Format(time.RFC3339Nano), g, want)
	}
}

// nextMicrosecond waits (spinning, a microsecond at most) until the clock has
// left the microsecond of t, so consecutive writes get distinct timestamps.
func nextMicrosecond(t time.Time) {
	for !time.Now().Truncate(time.Microsecond).After(t) {
	}
}

func testModifiedSinceBoundaries(t *testing.T, s flagcache.Store) {
	var live []*flagcache.Stored
	for _, id := range []string{"m1", "m2", "m3"} {
		f := mustCreate(t, s, flag(id, id))
		live = append(live, f)
		nextMicrosecond(f.Definition.Metadata.UpdatedAt)
	}
	first, last := live[0].Definition.Metadata.UpdatedAt, live[2].Definition.Metadata.UpdatedAt
	if !first.Before(last) {
		t.Fatalf("updated_at did not advance across writes: %v then %v", first, last)
	}
	checkModifiedSince(t, s, time.Time{}, live)
	checkModifiedSince(t, s, first.Add(-time.Microsecond), live) // includes the first
	checkModifiedSince(t, s, first, live)                        // strict: excludes the first
	checkModifiedSince(t, s, live[1].Definition.Metadata.UpdatedAt, live)
	checkModifiedSince(t, s, last, live) // nothing after the last
	checkModifiedSince(t, s, last.Add(time.Hour), live)
	// A timestamp in another zone is the same instant.
	checkModifiedSince(t, s, first.In(time.FixedZone("east", 5*3600)), live)

	got, err := s.ModifiedSince(ctxFor(t), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("ModifiedSince(zero): got %d flags, want 3", len(got))
	}
	for i, f := range got {
		checkStored(t, f, string(live[i].Definition.ID), 1)
	}
}

func testModifiedSinceUpdates(t *testing.T, s flagcache.Store) {
	a := mustCreate(t, s, flag("a", "A"))
	b := mustCreate(t, s, flag("b", "B"))
	c := mustCreate(t, s, flag("c", "C"))
	nextMicrosecond(c.Definition.Metadata.UpdatedAt)
	mark := c.Definition.Metadata.UpdatedAt
	a2 := mustUpdate(t, s, a.Definition, 1)
	mustDelete(t, s, "b", 0)
	_ = b
	got, err := s.ModifiedSince(ctxFor(t), mark)
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(got); !equalStrings(g, []string{"a"}) {
		t.Fatalf("ModifiedSince after update+delete: got %v, want [a]", g)
	}
	checkStored(t, got[0], "a", 2)
	sameDefinition(t, got[0].Definition, a2.Definition)
	checkModifiedSince(t, s, time.Time{}, []*flagcache.Stored{a2, c})
}
