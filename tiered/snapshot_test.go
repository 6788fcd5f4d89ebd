package tiered_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

// A sidecar restarted while the source and Redis are both down serves the
// flags it held, from its snapshot, marked stale; once the source answers
// with newer writes, it serves those, and never anything older again.
func TestSnapshotServesWhileEverythingIsDown(t *testing.T) {
	m := miniredis.RunT(t)
	client := redis.NewClient(redistest.FastOptions(m.Addr()))
	t.Cleanup(func() { client.Close() })
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	path := filepath.Join(t.TempDir(), "flagcache.snapshot")
	opts := tiered.Options{SnapshotPath: path, BreakerCooldown: 10 * time.Millisecond, ResyncInterval: -1}
	opts.Redis = tiered.RedisOptions{Client: client, Prefix: "snap:cache", Channel: "snap:inv"}

	ids := []flagcache.ID{"snap-a", "snap-b", "snap-c"}
	first := tiered.New(src, opts)
	for _, id := range ids {
		st, err := first.Create(ctx(t), mustFlag(t, string(id)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := first.Update(ctx(t), st.Definition, st.Version); err != nil { // v2
			t.Fatal(err)
		}
	}
	first.Close() // writes the snapshot
	if st := first.Stats(); st.SnapshotWrites == 0 {
		t.Fatalf("no snapshot written: %+v", st)
	}

	// Everything is down; the sidecar restarts.
	m.Close()
	src.down.Store(true)
	restarted := tiered.New(src, opts)
	t.Cleanup(func() { restarted.Close() })
	for _, id := range ids {
		h, err := restarted.GetHit(ctx(t), id)
		if err != nil {
			t.Fatalf("%s with the source and Redis down: %v, want the snapshot's copy", id, err)
		}
		if h.Stored.Version != 2 || !h.Stale {
			t.Errorf("%s: v%d stale=%v, want v2 marked stale", id, h.Stored.Version, h.Stale)
		}
	}
	if h, err := restarted.GetHit(ctx(t), "never-held"); err == nil {
		t.Errorf("a flag the snapshot does not hold: %+v, want an error", h)
	}

	// Newer writes while the sidecar was down; then the source answers.
	for _, id := range ids {
		cur, err := src.Store.Get(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Store.Update(ctx(t), cur.Definition, cur.Version); err != nil { // v3
			t.Fatal(err)
		}
	}
	src.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	fresh := map[flagcache.ID]bool{}
	for len(fresh) < len(ids) {
		if time.Now().After(deadline) {
			t.Fatalf("the sidecar did not serve the source's versions: fresh %v", fresh)
		}
		for _, id := range ids {
			h, err := restarted.GetHit(ctx(t), id)
			switch {
			case err != nil:
				t.Fatalf("%s once the source answers: %v", id, err)
			case h.Stored.Version == 3 && !h.Stale:
				fresh[id] = true
			case h.Stored.Version < 2 || fresh[id]:
				t.Fatalf("%s: v%d stale=%v after v3 was served", id, h.Stored.Version, h.Stale)
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// A snapshot that cannot be read is ignored (the store starts empty); one
// past SnapshotMaxBytes leaves flags out rather than growing.
func TestSnapshotBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap")
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := memstore.New(memstore.Options{})
	s := tiered.New(src, tiered.Options{SnapshotPath: path, SnapshotMaxBytes: 4 << 10})
	if st := s.Stats(); st.SnapshotLoaded != 0 {
		t.Errorf("a corrupt snapshot loaded %d flags", st.SnapshotLoaded)
	}
	for i := range 100 {
		if _, err := s.Create(ctx(t), mustFlag(t, "bounded-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)))); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 4<<10 {
		t.Errorf("snapshot of %d bytes, want ≤ %d", fi.Size(), 4<<10)
	}
	again := tiered.New(src, tiered.Options{SnapshotPath: path, SnapshotMaxBytes: 4 << 10})
	defer again.Close()
	if st := again.Stats(); st.SnapshotLoaded == 0 || st.SnapshotLoaded >= 100 {
		t.Errorf("loaded %d flags, want some but not all 100", st.SnapshotLoaded)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(entries) > 0 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
