package boltsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
)

// TestReopen writes creates, updates and deletes, closes the file, and wants
// everything back from a new Store on it: flags, versions, tombstone
// versions, revisions and the change feed.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := tempPath(t)
	opts := boltsource.Options{Now: clk.Now}
	s := mustOpen(t, path, opts)

	kept := mustFlag(t, "kept", "Kept")
	kept.Metadata.Extra = map[string]json.RawMessage{"reviewer": json.RawMessage(`"ana"`)}
	mustCreate(t, s, kept)
	clk.Add(time.Second)
	mustUpdate(t, s, mustFlag(t, "kept", "Kept, renamed"), 1)
	mustCreate(t, s, mustFlag(t, "gone", "Gone"))
	clk.Add(time.Second)
	mustDelete(t, s, "gone", 0)
	mustCreate(t, s, mustFlag(t, "back", "Back"))
	mustDelete(t, s, "back", 1)
	wantFlags := mustListAll(t, s)
	wantFeed := mustChanges(t, s, 0, 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = mustOpen(t, path, opts)
	if got := mustListAll(t, s); jsonString(t, got) != jsonString(t, wantFlags) {
		t.Errorf("flags after reopen:\n got %s\nwant %s", jsonString(t, got), jsonString(t, wantFlags))
	}
	if got := mustChanges(t, s, 0, 0); jsonString(t, got) != jsonString(t, wantFeed) {
		t.Errorf("change feed after reopen:\n got %s\nwant %s", jsonString(t, got), jsonString(t, wantFeed))
	}
	if _, err := s.Get(ctx, "gone"); !errors.Is(err, flagcache.ErrNotFound) {
		t.Errorf("Get(gone) after reopen: got %v, want ErrNotFound", err)
	}

	// The revision counter and the tombstone versions carry on.
	back := mustCreate(t, s, mustFlag(t, "back", "Back again"))
	if back.Version != 3 || back.Revision != wantFeed.Revision+1 {
		t.Errorf("re-create after reopen: got version %d revision %d, want 3 and %d",
			back.Version, back.Revision, wantFeed.Revision+1)
	}
	gone := mustCreate(t, s, mustFlag(t, "gone", "Gone again"))
	if gone.Version != 3 || gone.Revision != wantFeed.Revision+2 {
		t.Errorf("re-create after reopen: got version %d revision %d, want 3 and %d",
			gone.Version, gone.Revision, wantFeed.Revision+2)
	}
	// The re-creates took the tombstones out of the expiry index: a
	// compaction finds nothing left to expire.
	if err := s.Compact(ctx, clk.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	feed := mustChanges(t, s, 0, 0)
	if got, want := changeIDs(feed), "kept back gone"; got != want {
		t.Errorf("feed ids after re-creates: got %q, want %q", got, want)
	}
}

// TestOpenLocked wants a second Open of a file in use to give up after its
// timeout with ErrLocked, and to succeed once the first Store is closed.
func TestOpenLocked(t *testing.T) {
	path := tempPath(t)
	first := mustOpen(t, path, boltsource.Options{})

	const timeout = 100 * time.Millisecond
	start := time.Now()
	second, err := boltsource.Open(path, boltsource.Options{Timeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatal("second Open of a locked file: got nil error, want ErrLocked")
	}
	if !errors.Is(err, boltsource.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("second Open: got %v, want ErrLocked naming %s", err, path)
	}
	if elapsed > timeout+time.Second {
		t.Errorf("second Open gave up after %s, want about %s", elapsed, timeout)
	}

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mustOpen(t, path, boltsource.Options{Timeout: timeout})
}

// TestCompactSurvivesReopen wants the horizon a Compact raised to hold after
// a reopen: an old cursor still needs a resync, and the re-created flag
// still continues above its tombstone.
func TestCompactSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := tempPath(t)
	opts := boltsource.Options{Now: clk.Now}
	s := mustOpen(t, path, opts)

	first := mustCreate(t, s, mustFlag(t, "a", "A"))
	mustCreate(t, s, mustFlag(t, "b", "B"))
	del := mustDelete(t, s, "b", 0)
	mustCreate(t, s, mustFlag(t, "c", "C"))
	clk.Add(time.Hour)
	if err := s.Compact(ctx, clk.Now()); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = mustOpen(t, path, opts)
	if _, err := s.Changes(ctx, first.Revision, 0); !errors.Is(err, flagcache.ErrResyncNeeded) {
		t.Errorf("Changes(%d) below the horizon after reopen: got %v, want ErrResyncNeeded", first.Revision, err)
	}
	feed := mustChanges(t, s, del.Revision, 0)
	if got, want := changeIDs(feed), "c"; got != want {
		t.Errorf("Changes(%d) at the horizon: got ids %q, want %q", del.Revision, got, want)
	}
	if got, want := changeIDs(mustChanges(t, s, 0, 0)), "a c"; got != want {
		t.Errorf("full feed: got ids %q, want %q (the compacted tombstone left out)", got, want)
	}
	if b := mustCreate(t, s, mustFlag(t, "b", "B")); b.Version != del.Version+1 {
		t.Errorf("re-create of a compacted tombstone: got version %d, want %d", b.Version, del.Version+1)
	}
}

func mustListAll(t *testing.T, s flagcache.Store) []*flagcache.Stored {
	t.Helper()
	flags, err := s.List(context.Background(), flagcache.Query{IncludeArchived: true})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return flags
}

func changeIDs(feed *flagcache.ChangeFeed) string {
	ids := make([]string, len(feed.Changes))
	for i, c := range feed.Changes {
		ids[i] = string(c.ID)
	}
	return strings.Join(ids, " ")
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// TestClosed wants calls on a closed Store to fail with ErrUnavailable.
func TestClosed(t *testing.T) {
	s := mustOpen(t, tempPath(t), boltsource.Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Get(context.Background(), "a"); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("Get after Close: got %v, want ErrUnavailable", err)
	}
	if _, err := s.Create(context.Background(), mustFlag(t, "a", "A")); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("Create after Close: got %v, want ErrUnavailable", err)
	}
}
