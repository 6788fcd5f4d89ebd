package boltsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
)

// indexFixture fills a bolt store and a memstore with the same flags: names
// out of id order, with statuses, tags, owners and environments spread over
// them, and a few deleted.
func indexFixture(t *testing.T, path string, n int) (*Store, flagcache.Store) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mem := memstore.New(memstore.Options{Now: fixedNow})
	statuses := []flagcache.Status{flagcache.StatusActive, flagcache.StatusInactive, flagcache.StatusDeprecated, flagcache.StatusArchived}
	for i := range n {
		d, err := flagcache.NewBoolean(flagcache.ID(fmt.Sprintf("flag-%04d", i)), fmt.Sprintf("Flag %d", (i*7)%n), false)
		if err != nil {
			t.Fatal(err)
		}
		d.Status = statuses[i%len(statuses)]
		d.Metadata.Tags = []string{fmt.Sprintf("t%d", i%3), fmt.Sprintf("t%d", i%5)}
		d.Metadata.Owner = fmt.Sprintf("team-%d", i%2)
		d.Environments = map[string]flagcache.Environment{"prod": {}, fmt.Sprintf("env%d", i%3): {}}
		for _, st := range []flagcache.Store{s, mem} {
			if _, err := st.Create(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		if i%9 == 0 {
			for _, st := range []flagcache.Store{s, mem} {
				if _, err := st.Delete(ctx, d.ID, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return s, mem
}

// fixedNow is the clock of indexFixture's stores, so that they agree on
// timestamps.
func fixedNow() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }

// indexQueries are queries over indexFixture's attributes.
var indexQueries = []flagcache.Query{
	{},
	{Limit: 5},
	{Offset: 3, Limit: 4},
	{IncludeArchived: true, Limit: 7},
	{Status: flagcache.StatusArchived},
	{Status: flagcache.StatusActive, Tags: []string{"t1"}},
	{Tags: []string{"t1", "t2", "t1"}, Limit: 6},
	{Tags: []string{"t0"}, Owner: "team-1", Environment: "env2"},
	{Owner: "team-0", IncludeArchived: true, Offset: 2},
	{Environment: "prod", Status: flagcache.StatusDeprecated},
	{Environment: "nowhere"},
	{Tags: []string{"none"}},
}

// sameAnswers wants s and want to answer every query of indexQueries alike.
func sameAnswers(t *testing.T, s *Store, want flagcache.Store) {
	t.Helper()
	ctx := context.Background()
	for _, q := range indexQueries {
		got, err := s.List(ctx, q)
		if err != nil {
			t.Fatalf("List %+v: %v", q, err)
		}
		exp, err := want.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if g, e := mustJSON(t, got), mustJSON(t, exp); g != e {
			t.Fatalf("List %+v:\n got %s\nwant %s", q, g, e)
		}
		n, err := s.Count(ctx, q)
		if err != nil {
			t.Fatalf("Count %+v: %v", q, err)
		}
		m, _ := want.Count(ctx, q)
		if n != m {
			t.Fatalf("Count %+v = %d, want %d", q, n, m)
		}
	}
	got, err := s.ModifiedSince(ctx, time.Time{})
	if err != nil {
		t.Fatalf("ModifiedSince: %v", err)
	}
	exp, err := want.ModifiedSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if g, e := mustJSON(t, got), mustJSON(t, exp); g != e {
		t.Fatalf("ModifiedSince:\n got %s\nwant %s", g, e)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rawUpdate changes the file behind the store's back, as a binary without
// the indexes would.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestIndexAnswersLikeMemstore(t *testing.T) {
	s, mem := indexFixture(t, filepath.Join(t.TempDir(), "flags.db"), 60)
	sameAnswers(t, s, mem)
}

// TestListReadsOnlyItsPage: a record outside the page is not read. The
// record of the last flag in List order is made undecodable behind the
// store's back; a List of the first page and a Count still answer, a Get of
// that flag serves it as stored, marked Malformed (issue 14). Before the
// indexes List and Count decoded every record and failed.
func TestListReadsOnlyItsPage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flags.db")
	s, mem := indexFixture(t, path, 40)
	all, err := mem.List(ctx, flagcache.Query{})
	if err != nil {
		t.Fatal(err)
	}
	last := all[len(all)-1]
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := open(tx)
		r, err := b.getRecord(last.Definition.ID)
		if err != nil {
			return err
		}
		r.Definition = []byte(`{"name": 12`)
		return b.putRecord(last.Definition.ID, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, last.Definition.ID); err != nil || got.Malformed == "" {
		t.Fatalf("Get of the damaged record: %+v, %v; want it served, marked Malformed", got, err)
	}
	got, err := s.List(ctx, flagcache.Query{Limit: 10})
	if err != nil {
		t.Fatalf("List of the first page: %v", err)
	}
	if g, e := mustJSON(t, got), mustJSON(t, all[:10]); g != e {
		t.Fatalf("List:\n got %s\nwant %s", g, e)
	}
	if n, err := s.Count(ctx, flagcache.Query{}); err != nil || n != len(all) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(all))
	}
}

// TestIndexRebuiltOnOpen: a file without the indexes (written before they
// existed) and a file written by a binary that does not maintain them get
// them rebuilt on Open.
func TestIndexRebuiltOnOpen(t *testing.T) {
	defer func(n int) { rebuildBatch = n }(rebuildBatch)
	rebuildBatch = 7 // several transactions, the last one short
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flags.db")
	s, mem := indexFixture(t, path, 50)
	s.Close()

	// As before the indexes: no index buckets, no marker.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		for _, name := range [][]byte{indexBucket, indexCountsBucket, indexIDsBucket, indexOddBucket} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(metaBucket).Delete(indexKey)
	})
	s, err := Open(path, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	sameAnswers(t, s, mem)
	s.Close()

	// An older binary renames a flag and retags it: it writes the record
	// and the revision, not the indexes.
	d, err := mem.Get(ctx, "flag-0001")
	if err != nil {
		t.Fatal(err)
	}
	def := d.Definition
	def.Name, def.Metadata.Tags, def.Status = "AAA first", []string{"fresh"}, flagcache.StatusActive
	if d, err = mem.Update(ctx, def, 0); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := open(tx)
		raw, err := json.Marshal(d.Definition)
		if err != nil {
			return err
		}
		prev, err := b.getRecord(def.ID)
		if err != nil {
			return err
		}
		if err := b.changes.Delete(revKey(prev.Revision)); err != nil {
			return err
		}
		r := &record{Definition: raw, Version: d.Version, Revision: d.Revision}
		if err := b.putRecord(def.ID, r); err != nil {
			return err
		}
		if err := b.changes.Put(revKey(r.Revision), []byte(def.ID)); err != nil {
			return err
		}
		return b.setCounter(revisionKey, d.Revision)
	})
	s, err = Open(path, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.List(ctx, flagcache.Query{Tags: []string{"fresh"}})
	if err != nil || len(got) != 1 || got[0].Definition.Name != "AAA first" {
		t.Fatalf("List by the new tag = %s, %v", mustJSON(t, got), err)
	}
	sameAnswers(t, s, mem)
}

// TestIndexRebuildIsAtomic: a rebuild that fails leaves no index marker
// (Open fails, and a partial index is never used); once the record is
// repaired the next Open builds the indexes whole.
func TestIndexRebuildIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.db")
	s, mem := indexFixture(t, path, 30)
	s.Close()
	var saved []byte
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.Bucket(metaBucket).Delete(indexKey); err != nil {
			return err
		}
		flags := tx.Bucket(flagsBucket)
		saved = slices.Clone(flags.Get([]byte("flag-0005")))
		return flags.Put([]byte("flag-0005"), []byte("?"))
	})
	if _, err := Open(path, Options{Now: fixedNow}); !errors.Is(err, errCorrupt) {
		t.Fatalf("Open with a bad record header: %v, want corrupt", err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(metaBucket).Get(indexKey) != nil {
			return errors.New("index marker written by a failed rebuild")
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(flagsBucket).Put([]byte("flag-0005"), saved) })
	s, err = Open(path, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sameAnswers(t, s, mem)
}

// TestIndexFallsBackToScan: a live record of a shape flagcache does not
// model (a definition that is not an object) is listed, as stored, like any
// other (issue 14: summaries never fail, members of another type are
// absent); overwriting it keeps the indexes right.
func TestIndexFallsBackToScan(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flags.db")
	s, mem := indexFixture(t, path, 20)
	if err := PutRaw(s, "flag-0002", []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Update(ctx, mustGet(t, mem, "flag-0002").Definition, 0); err != nil {
		t.Fatal(err) // the same version and revision as the raw write
	}
	want, err := mem.List(ctx, flagcache.Query{IncludeArchived: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(ctx, flagcache.Query{IncludeArchived: true}); err != nil || len(got) != len(want) {
		t.Fatalf("List with an odd record: %d flags, %v; want %d", len(got), err, len(want))
	}
	d := mustGet(t, mem, "flag-0002")
	for _, st := range []flagcache.Store{s, mem} {
		if _, err := st.Delete(ctx, "flag-0002", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Create(ctx, d.Definition); err != nil {
			t.Fatal(err)
		}
	}
	sameAnswers(t, s, mem)
}

func mustGet(t *testing.T, s flagcache.Store, id flagcache.ID) *flagcache.Stored {
	t.Helper()
	f, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
