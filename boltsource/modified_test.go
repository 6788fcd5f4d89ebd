package boltsource

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/flagcache/flagcache"
)

// modifiedFixture is a store of flags whose updated_at are spread (two
// flags a tick, some updated, some deleted) plus records another writer
// put: updated_at in nanoseconds, before 1970, not a timestamp, and bytes
// that are not JSON.
func modifiedFixture(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	tick := 0
	clock := func() time.Time {
		tick++
		return time.Date(2026, 12, 1, 10, 0, tick/2, 0, time.UTC)
	}
	s, err := Open(filepath.Join(t.TempDir(), "flags.db"), Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 30 {
		d, err := flagcache.NewBoolean(flagcache.ID(fmt.Sprintf("flag-%02d", (i*7)%30)), "F", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 30; i += 4 {
		id := flagcache.ID(fmt.Sprintf("flag-%02d", i))
		if i%8 == 0 {
			_, err = s.Delete(ctx, id, 0)
		} else {
			_, err = s.Update(ctx, mustGet(t, s, id).Definition, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for id, raw := range map[flagcache.ID]string{
		"raw-nanos":     `{"id":"raw-nanos","name":"N","kind":"boolean","default_value":true,"metadata":{"updated_at":"2026-12-01T10:00:03.000000500Z"}}`,
		"raw-1960":      `{"id":"raw-1960","name":"Old","kind":"boolean","default_value":true,"metadata":{"updated_at":"1960-01-01T00:00:00Z"}}`,
		"raw-not-time":  `{"id":"raw-not-time","metadata":{"updated_at":"soon"}}`,
		"raw-not-json":  `{"name": 12`,
		"raw-same-tick": `{"id":"raw-same-tick","metadata":{"updated_at":"2026-12-01T10:00:05Z"}}`,
	} {
		if err := PutRaw(s, id, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// liveFlags is every live flag of s, as List serves them.
func liveFlags(t *testing.T, s *Store) []*flagcache.Stored {
	t.Helper()
	all, err := s.List(context.Background(), flagcache.Query{IncludeArchived: true})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// wantModified is ModifiedSince worked out from the live flags: those
// after the cursor by time.Time comparison, ordered by (updated_at, id).
func wantModified(all []*flagcache.Stored, since time.Time, afterID flagcache.ID) []*flagcache.Stored {
	order := func(at time.Time, id flagcache.ID, since time.Time, after flagcache.ID) int {
		return cmp.Or(at.Compare(since), cmp.Compare(id, after))
	}
	var out []*flagcache.Stored
	for _, f := range all {
		at := f.Definition.Metadata.UpdatedAt
		if (afterID == "" && at.After(since)) || (afterID != "" && order(at, f.Definition.ID, since, afterID) > 0) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *flagcache.Stored) int {
		return order(a.Definition.Metadata.UpdatedAt, a.Definition.ID, b.Definition.Metadata.UpdatedAt, b.Definition.ID)
	})
	return out
}

// TestModifiedSinceIndex: ModifiedSince and ModifiedSincePage from the
// dimModified index answer what the definitions say, for every cursor, and
// a page walk visits every flag once; so does the scan they fall back to.
func TestModifiedSinceIndex(t *testing.T) {
	ctx := context.Background()
	s := modifiedFixture(t)
	live := liveFlags(t, s)
	all := wantModified(live, time.Time{}.Add(-time.Hour), "")
	if len(all) != 30-4+5 {
		t.Fatalf("the fixture has %d live flags, want 31", len(all))
	}
	check := func(t *testing.T) {
		t.Helper()
		cursors := []time.Time{time.Time{}.Add(-time.Hour), {}, time.Date(2026, 12, 1, 10, 0, 3, 0, time.UTC), time.Date(2026, 12, 1, 10, 0, 3, 1, time.UTC)}
		for _, f := range all {
			cursors = append(cursors, f.Definition.Metadata.UpdatedAt)
		}
		for _, since := range cursors {
			got, err := s.ModifiedSince(ctx, since)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, wantModified(live, since, "")); g != w {
				t.Fatalf("ModifiedSince(%v):\n got %s\nwant %s", since, g, w)
			}
			for _, f := range all {
				page, err := s.ModifiedSincePage(ctx, since, f.Definition.ID, 5)
				if err != nil {
					t.Fatal(err)
				}
				want := wantModified(live, since, f.Definition.ID)
				if g, w := mustJSON(t, page), mustJSON(t, want[:min(5, len(want))]); g != w {
					t.Fatalf("ModifiedSincePage(%v, %s, 5):\n got %s\nwant %s", since, f.Definition.ID, g, w)
				}
			}
		}
		var walked []*flagcache.Stored
		since, after := time.Time{}.Add(-time.Hour), flagcache.ID("")
		for {
			page, err := s.ModifiedSincePage(ctx, since, after, 4)
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, page...)
			if len(page) < 4 {
				break
			}
			last := page[len(page)-1]
			since, after = last.Definition.Metadata.UpdatedAt, last.Definition.ID
		}
		if g, w := mustJSON(t, walked), mustJSON(t, all); g != w {
			t.Fatalf("pages of 4:\n got %s\nwant %s", g, w)
		}
	}
	t.Run("index", check)
	// A live record out of the indexes makes it scan, with the same answers.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(indexOddBucket).Put([]byte("raw-not-json"), nil) }); err != nil {
		t.Fatal(err)
	}
	t.Run("scan", check)
}

// TestModifiedSinceReadsOnlyItsPage: a page reads the records of its page
// and no other: with the newest flag's record made undecodable behind the
// store's back, the first page answers and only a walk that reaches the
// record fails. A scan (ModifiedSince before the index) read every record.
func TestModifiedSinceReadsOnlyItsPage(t *testing.T) {
	ctx := context.Background()
	s := modifiedFixture(t)
	all := wantModified(liveFlags(t, s), time.Time{}, "")
	newest := all[len(all)-1].Definition.ID
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(flagsBucket).Put([]byte(newest), []byte("?")) }); err != nil {
		t.Fatal(err)
	}
	page, err := s.ModifiedSincePage(ctx, time.Time{}, "", 10)
	if err != nil {
		t.Fatalf("the first page: %v", err)
	}
	if g, w := mustJSON(t, page), mustJSON(t, all[:10]); g != w {
		t.Fatalf("the first page:\n got %s\nwant %s", g, w)
	}
	if _, err := s.ModifiedSince(ctx, time.Time{}); err == nil {
		t.Fatalf("ModifiedSince over the damaged record %s answered", newest)
	}
}

// TestModifiedIndexBuiltOnOpen: a file indexed by the previous index
// version (no dimModified entries) gets them on Open.
func TestModifiedIndexBuiltOnOpen(t *testing.T) {
	ctx := context.Background()
	s := modifiedFixture(t)
	want := mustJSON(t, wantModified(liveFlags(t, s), time.Time{}, ""))
	path := s.db.Path()
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		entries := tx.Bucket(indexBucket)
		c := entries.Cursor()
		for k, _ := c.Seek([]byte{dimModified}); k != nil && k[0] == dimModified; k, _ = c.Seek([]byte{dimModified}) {
			if err := entries.Delete(bytes.Clone(k)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(metaBucket)
		marker := slices.Clone(meta.Get(indexKey))
		copy(marker, u64(2)) // version 2, the same revision
		return meta.Put(indexKey, marker)
	})
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ModifiedSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if g := mustJSON(t, got); g != want {
		t.Fatalf("ModifiedSince after Open:\n got %s\nwant %s", g, want)
	}
}
