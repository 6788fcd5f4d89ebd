package vcache

import (
	"fmt"
	"slices"
	"testing"

	"github.com/flagcache/flagcache"
)

func mustEntries(t *testing.T, l *lru[int]) []flagcache.ID {
	t.Helper()
	ids, vs := l.entries()
	if len(ids) != l.len() || len(vs) != l.len() {
		t.Fatalf("entries: %d ids, %d values, len %d", len(ids), len(vs), l.len())
	}
	return ids
}

// Below four entries every hit moves to the front: an exact LRU.
func TestLRUSmallIsExact(t *testing.T) {
	l := newLRU[int](3)
	l.add("a", 1)
	l.add("b", 2)
	l.add("c", 3)
	if _, ok := l.get("a"); !ok {
		t.Fatal("a missing")
	}
	l.add("d", 4) // evicts b, the least recently used
	if got, want := mustEntries(t, l), []flagcache.ID{"d", "a", "c"}; !slices.Equal(got, want) {
		t.Errorf("entries newest first: got %v, want %v", got, want)
	}
	l.add("c", 30) // an update moves it to the front
	if v, _ := l.peek("c"); v != 30 {
		t.Errorf("c: got %d, want 30", v)
	}
	if got, want := mustEntries(t, l), []flagcache.ID{"c", "d", "a"}; !slices.Equal(got, want) {
		t.Errorf("after the update: got %v, want %v", got, want)
	}
	l.remove("d")
	l.remove("nothing")
	if got, want := mustEntries(t, l), []flagcache.ID{"c", "a"}; !slices.Equal(got, want) {
		t.Errorf("after remove: got %v, want %v", got, want)
	}
	l.purge()
	if _, ok := l.peek("c"); ok || l.len() != 0 {
		t.Errorf("after purge: len %d", l.len())
	}
}

// A hit in the front quarter does not move; a hit further back does, so
// an entry read while the others pass it is never evicted.
func TestLRUHitMovesOnlyOutOfTheFrontQuarter(t *testing.T) {
	l := newLRU[int](8) // front quarter: 2 moves
	for i := range 8 {
		l.add(flagcache.ID(fmt.Sprint(i)), i)
	}
	l.get("6") // one move since its own: stays
	if got := mustEntries(t, l)[:2]; !slices.Equal(got, []flagcache.ID{"7", "6"}) {
		t.Errorf("after a hit in the front quarter: front %v, want [7 6]", got)
	}
	l.get("5") // two moves since its own: moves
	if got := mustEntries(t, l)[0]; got != "5" {
		t.Errorf("after a hit behind the front quarter: front %s, want 5", got)
	}
	// "0" is read after every addition: each hit finds it out of the
	// front quarter or inside it, and it is never the oldest.
	for i := 8; i < 40; i++ {
		if _, ok := l.get("0"); !ok {
			t.Fatalf("0 evicted before addition %d", i)
		}
		l.add(flagcache.ID(fmt.Sprint(i)), i)
	}
	if l.len() != 8 {
		t.Errorf("len: got %d, want 8", l.len())
	}
}
