package pgsource_test

import (
	"errors"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/pgsource"
)

// TestTimestampsMatchColumns: a write stamps the definition with the
// transaction time, the same microsecond as the created_at and updated_at
// columns (the seed's trigger sets updated_at to NOW() on its own).
func TestTimestampsMatchColumns(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	conn := mustConnIn(t, schema)
	ctx := ctxFor(t)
	created, err := s.Create(ctx, mustFlag(t, "a", "A"))
	if err != nil {
		t.Fatal(err)
	}
	updated, err := s.Update(ctx, mustFlag(t, "a", "A2"), 1)
	if err != nil {
		t.Fatal(err)
	}
	var ca, ua time.Time
	if err := conn.QueryRow(ctx, `SELECT created_at, updated_at FROM feature_flags WHERE id = 'a'`).Scan(&ca, &ua); err != nil {
		t.Fatal(err)
	}
	m := updated.Definition.Metadata
	if !m.CreatedAt.Equal(ca) || !m.UpdatedAt.Equal(ua) {
		t.Errorf("metadata created_at %v updated_at %v; columns %v %v", m.CreatedAt, m.UpdatedAt, ca, ua)
	}
	if !m.CreatedAt.Equal(created.Definition.Metadata.CreatedAt) || !m.UpdatedAt.After(m.CreatedAt) {
		t.Errorf("after Update: created_at %v (want %v), updated_at %v", m.CreatedAt, created.Definition.Metadata.CreatedAt, m.UpdatedAt)
	}
	if m.UpdatedAt.Location() != time.UTC || m.UpdatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("updated_at %v: want UTC, whole microseconds", m.UpdatedAt)
	}
}

// TestRetention: with a retention of a microsecond, a tombstone leaves the
// feed by the next Changes, which also marks it compacted and raises the
// horizon; the id still remembers its version.
func TestRetention(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{Retention: time.Microsecond})
	ctx := ctxFor(t)
	if _, err := s.Create(ctx, mustFlag(t, "a", "A")); err != nil {
		t.Fatal(err)
	}
	del, err := s.Delete(ctx, "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(ctx, mustFlag(t, "b", "B"))
	if err != nil {
		t.Fatal(err)
	}

	feed, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summarize(feed), []change{{b.Revision, flagcache.OpUpsert, "b", 1}}; len(got) != 1 || got[0] != want[0] || feed.Revision != b.Revision {
		t.Errorf("Changes(0): got %+v at %d, want %+v at %d", got, feed.Revision, want, b.Revision)
	}
	var compacted bool
	if err := mustConnIn(t, schema).QueryRow(ctx, `SELECT compacted FROM flagcache_tombstones WHERE id = 'a'`).Scan(&compacted); err != nil || !compacted {
		t.Errorf("tombstone of a: compacted %v, %v; want true", compacted, err)
	}
	if _, err := s.Changes(ctx, del.Revision-1, 0); !errors.Is(err, flagcache.ErrResyncNeeded) {
		t.Errorf("Changes below the horizon: got %v, want ErrResyncNeeded", err)
	}
	if _, err := s.Changes(ctx, del.Revision, 0); err != nil {
		t.Errorf("Changes at the horizon: %v", err)
	}
	again, err := s.Create(ctx, mustFlag(t, "a", "A"))
	if err != nil || again.Version != del.Version+1 {
		t.Errorf("re-Create after compaction: got %+v, %v; want version %d", again, err, del.Version+1)
	}
}
