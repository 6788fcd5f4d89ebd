package vcache_test

import (
	"fmt"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/vcache"
)

type ver int64

func (v ver) Version() int64 { return int64(v) }

func always(ver) bool { return true }

func cached(t *testing.T, c *vcache.Cache[ver], id flagcache.ID) int64 {
	t.Helper()
	v, ok := c.Get(id, always)
	if !ok {
		return 0
	}
	return int64(v)
}

// The rule, step by step: nothing older than what is cached or announced
// is installed, a purge refuses the fills begun before it, and announced
// versions outlive entries and purges.
func TestNeverOlder(t *testing.T) {
	c := vcache.New[ver](vcache.Options{Size: 8})
	steps := []struct {
		name string
		do   func()
		id   flagcache.ID
		want int64 // cached version after the step, 0 for none
	}{
		{"a fill installs", func() { c.Install(c.Begin(), "f", 2) }, "f", 2},
		{"an older fill is refused", func() { c.Install(c.Begin(), "f", 1) }, "f", 2},
		{"a newer fill replaces", func() { c.Install(c.Begin(), "f", 3) }, "f", 3},
		{"an announce drops older copies", func() { c.Announce("f", 5, 10) }, "f", 0},
		{"a fill below the announce is refused", func() { c.Install(c.Begin(), "f", 4) }, "f", 0},
		{"a fill at the announce installs", func() { c.Install(c.Begin(), "f", 5) }, "f", 5},
		{"a purge empties", func() { c.Purge() }, "f", 0},
		{"the announce outlives the purge", func() { c.Install(c.Begin(), "f", 4) }, "f", 0},
		{"a fill begun before a purge is refused", func() {
			tok := c.Begin()
			c.Purge()
			c.Install(tok, "g", 1)
		}, "g", 0},
		{"replaceIfCached skips what is not cached", func() { c.ReplaceIfCached("h", 1) }, "h", 0},
		{"replaceIfCached refreshes what is", func() {
			c.Install(c.Begin(), "h", 1)
			c.ReplaceIfCached("h", 2)
		}, "h", 2},
	}
	for _, s := range steps {
		s.do()
		if got := cached(t, c, s.id); got != s.want {
			t.Fatalf("%s: %s cached at %d, want %d", s.name, s.id, got, s.want)
		}
	}
}

// Accepts vouches for a foreign copy only with knowledge: the newest
// announced version, or, for an id without one, a write after Known.
func TestAccepts(t *testing.T) {
	c := vcache.New[ver](vcache.Options{})
	if !c.Accepts("f", 1, 3) {
		t.Error("with nothing known, a copy is refused")
	}
	c.Announce("f", 4, 7)
	c.SetKnown(10)
	for _, tc := range []struct {
		id                flagcache.ID
		version, revision int64
		want              bool
	}{
		{"f", 3, 5, false}, // older than announced, however long ago
		{"f", 4, 7, true},
		{"f", 5, 12, true},
		{"g", 1, 9, false}, // g had no write up to 10: this copy is stale
		{"g", 1, 11, true}, // written after what is known
		{"g", 1, 0, false}, // revision unknown
	} {
		if got := c.Accepts(tc.id, tc.version, tc.revision); got != tc.want {
			t.Errorf("Accepts(%s v%d r%d) = %v, want %v", tc.id, tc.version, tc.revision, got, tc.want)
		}
	}
}

// Announced versions are bounded: past MaxVersions the oldest are dropped,
// and copies of the ids dropped are refused unless newer than them.
func TestVersionsBounded(t *testing.T) {
	const max = 64
	c := vcache.New[ver](vcache.Options{Size: 8, MaxVersions: max})
	for i := 1; i <= 10*max; i++ {
		c.Announce(flagcache.ID(fmt.Sprintf("id-%d", i)), 3, int64(i))
	}
	if n := c.Versions(); n > max {
		t.Fatalf("%d versions kept, want ≤ %d", n, max)
	}
	if c.Accepts("id-1", 2, 1) {
		t.Error("a copy older than a forgotten version was accepted")
	}
	if !c.Accepts("id-1", 3, 10*max+1) {
		t.Error("a copy written after every forgotten version was refused")
	}
}
