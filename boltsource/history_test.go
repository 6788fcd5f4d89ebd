package boltsource_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
	"github.com/flagcache/flagcache/storetest"
)

func TestHistoryRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T, o storetest.RetentionOptions) flagcache.Store {
		var now func() time.Time
		if o.Clock != nil {
			now = o.Clock.Now
		}
		return mustOpen(t, tempPath(t), boltsource.Options{History: o.Retention, Now: now})
	})
}

// A file written before history existed opens with one entry per id, its
// latest write, by ActorUnknown; new writes continue above it.
func TestHistoryOfAnOlderFile(t *testing.T) {
	path := tempPath(t)
	s, err := boltsource.Open(path, boltsource.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, mustFlag(t, "live", "Live"))
	mustUpdate(t, s, mustFlag(t, "live", "Live 2"), 1)
	mustCreate(t, s, mustFlag(t, "gone", "Gone"))
	mustDelete(t, s, "gone", 1)
	s.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("history")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = mustOpen(t, path, boltsource.Options{})
	ctx := context.Background()
	for id, want := range map[flagcache.ID]string{"live": "2 upsert unknown Live 2", "gone": "2 delete unknown "} {
		page, err := s.History(ctx, id, 0, 0)
		if err != nil {
			t.Fatalf("History(%s): %v", id, err)
		}
		if len(page.Versions) != 1 {
			t.Fatalf("History(%s): %d versions, want 1", id, len(page.Versions))
		}
		e := page.Versions[0]
		name := ""
		if e.Definition != nil {
			name = e.Definition.Name
		}
		if got := fmt.Sprintf("%d %s %s %s", e.Version, e.Op, e.Actor, name); got != want {
			t.Errorf("History(%s): got %q, want %q", id, got, want)
		}
	}
	mustUpdate(t, s, mustFlag(t, "live", "Live 3"), 2)
	page, err := s.History(ctx, "live", 0, 0)
	if err != nil || len(page.Versions) != 2 || page.Versions[0].Version != 3 {
		t.Fatalf("History(live) after a write: %+v, %v; want versions 3, 2", page, err)
	}
}
