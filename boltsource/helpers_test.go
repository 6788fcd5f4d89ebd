package boltsource_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// tempPath returns a path for a new database file in t's temp directory.
func tempPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "flags.db")
}

// mustOpen opens the store at path and closes it when the test ends.
func mustOpen(t testing.TB, path string, opts boltsource.Options) *boltsource.Store {
	t.Helper()
	s, err := boltsource.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustFlag(tb testing.TB, id, name string) *flagcache.Definition {
	tb.Helper()
	d, err := flagcache.NewBoolean(flagcache.ID(id), name, false)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func mustCreate(tb testing.TB, s flagcache.Store, d *flagcache.Definition) *flagcache.Stored {
	tb.Helper()
	got, err := s.Create(context.Background(), d)
	if err != nil {
		tb.Fatalf("Create(%s): %v", d.ID, err)
	}
	return got
}

func mustUpdate(tb testing.TB, s flagcache.Store, d *flagcache.Definition, expected int64) *flagcache.Stored {
	tb.Helper()
	got, err := s.Update(context.Background(), d, expected)
	if err != nil {
		tb.Fatalf("Update(%s, %d): %v", d.ID, expected, err)
	}
	return got
}

func mustDelete(tb testing.TB, s flagcache.Store, id string, expected int64) flagcache.Change {
	tb.Helper()
	got, err := s.Delete(context.Background(), flagcache.ID(id), expected)
	if err != nil {
		tb.Fatalf("Delete(%s, %d): %v", id, expected, err)
	}
	return got
}

func mustChanges(tb testing.TB, s flagcache.Store, after int64, limit int) *flagcache.ChangeFeed {
	tb.Helper()
	got, err := s.Changes(context.Background(), after, limit)
	if err != nil {
		tb.Fatalf("Changes(%d, %d): %v", after, limit, err)
	}
	return got
}
