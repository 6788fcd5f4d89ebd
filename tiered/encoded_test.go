package tiered_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
)

// GetEncoded serves a cached flag as the bytes Stored.AppendJSON writes,
// with its version, ETag and tier, from the source on a miss and from the
// LRU after; a missing flag is ErrNotFound. Get decodes the same bytes
// once per entry: two hits return the same value.
func TestGetEncoded(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	want, err := src.Create(ctx(t), mustFlag(t, "enc"))
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, src, nodeConfig{})
	for i, tier := range []flagcache.Tier{flagcache.TierSource, flagcache.TierLRU} {
		got, err := n.GetEncoded(ctx(t), "enc")
		if err != nil {
			t.Fatal(err)
		}
		if got.Tier != tier || got.Version != want.Version || got.ETag != flagcache.ETag(want.Version) || got.Malformed || got.Stale {
			t.Errorf("read %d: got tier %s, version %d, ETag %s, malformed %v, stale %v; want %s, %d, %s, false, false",
				i, got.Tier, got.Version, got.ETag, got.Malformed, got.Stale, tier, want.Version, flagcache.ETag(want.Version))
		}
		if !bytes.Equal(got.Body, want.AppendJSON(nil)) {
			t.Errorf("read %d: body\n%s\nwant\n%s", i, got.Body, want.AppendJSON(nil))
		}
	}
	if n := src.gets.Load(); n != 1 {
		t.Errorf("%d source reads, want 1", n)
	}
	a, err := n.Get(ctx(t), "enc")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := n.Get(ctx(t), "enc")
	if a != b || !bytes.Equal(a.AppendJSON(nil), want.AppendJSON(nil)) {
		t.Errorf("two LRU hits: %p and %p (want one decoded value), %s", a, b, a.AppendJSON(nil))
	}
	if _, err := n.GetEncoded(ctx(t), "missing"); !errors.Is(err, flagcache.ErrNotFound) {
		t.Errorf("missing flag: got %v, want ErrNotFound", err)
	}
}
