package boltsource

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/flagcache/flagcache"
)

// benchStore returns a store of n flags of about 1 KiB: four statuses,
// 20 tags (two per flag), 10 owners, three of five environments per flag.
// It is filled in transactions of 5,000 writes (through the same put as
// Create), so that 100,000 flags take seconds, not an fsync each.
func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "flags.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	statuses := []flagcache.Status{flagcache.StatusActive, flagcache.StatusInactive, flagcache.StatusDeprecated, flagcache.StatusArchived}
	envs := []string{"prod", "staging", "dev", "qa", "perf"}
	now := s.now()
	for start := 0; start < n; start += 5000 {
		err := s.update(func(bk buckets) error {
			for i := start; i < min(n, start+5000); i++ {
				d, err := flagcache.NewBoolean(flagcache.ID(fmt.Sprintf("flag-%06d", i)), fmt.Sprintf("Flag %d", (i*7919)%n), false)
				if err != nil {
					return err
				}
				d.Description = strings.Repeat("x", 700)
				d.Status = statuses[i%len(statuses)]
				d.Metadata.Tags = []string{fmt.Sprintf("tag-%d", i%20), fmt.Sprintf("tag-%d", (i/20)%20)}
				d.Metadata.Owner = fmt.Sprintf("team-%d", i%10)
				d.Environments = map[string]flagcache.Environment{}
				for j := range 3 {
					d.Environments[envs[(i+j)%len(envs)]] = flagcache.Environment{Enabled: true}
				}
				d.Stamp(now, now)
				if _, err := s.put(bk, d, 1, nil, flagcache.ActorUnknown, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkIndexedQuery measures List (Limit 100) and Count at 10,000 and
// 100,000 flags: with the indexes their cost should not depend on N.
func BenchmarkIndexedQuery(b *testing.B) {
	queries := []struct {
		name string
		q    flagcache.Query
	}{
		{"all", flagcache.Query{Limit: 100}},
		{"tag", flagcache.Query{Tags: []string{"tag-3"}, Limit: 100}},
		{"status+owner", flagcache.Query{Status: flagcache.StatusActive, Owner: "team-4", Limit: 100}},
		{"env+tag", flagcache.Query{Environment: "prod", Tags: []string{"tag-3"}, Limit: 100}},
	}
	ctx := context.Background()
	sizes := []int{10_000, 100_000}
	stores := map[int]*Store{}
	for _, n := range sizes {
		stores[n] = benchStore(b, n)
	}
	// Each query at both sizes one after the other, so that the two
	// figures of a pair share the machine's load of the moment.
	for _, qc := range queries {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("List/%s/N=%d", qc.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					page, err := stores[n].List(ctx, qc.q)
					if err != nil || len(page) != 100 {
						b.Fatalf("List: %d flags, %v", len(page), err)
					}
				}
			})
		}
	}
	// The baseline: the scan List made before the indexes (and still makes
	// when a record's summary does not decode).
	for _, n := range sizes {
		b.Run(fmt.Sprintf("List/all-by-scan/N=%d", n), func(b *testing.B) {
			for b.Loop() {
				err := stores[n].view(func(bk buckets) error {
					matched, records, err := bk.scan(queries[0].q.Match)
					if err != nil {
						return err
					}
					slices.SortFunc(matched, flagcache.CompareStored)
					return decodeAll(queries[0].q.Page(matched), records)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, qc := range queries[:3] {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("Count/%s/N=%d", qc.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := stores[n].Count(ctx, qc.q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkIndexRebuild measures the Open of a file of 100,000 flags whose
// indexes must be built (a file from before them).
func BenchmarkIndexRebuild(b *testing.B) {
	s := benchStore(b, 100_000)
	path := s.db.Path()
	s.Close()
	for b.Loop() {
		b.StopTimer()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Delete(indexKey) }); err != nil {
			b.Fatal(err)
		}
		db.Close()
		b.StartTimer()
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkModifiedSincePage measures a page of 100 of ModifiedSincePage
// at 10,000 and 100,000 flags, the first page and one from a cursor in the
// middle: with the dimModified index its cost should not depend on N.
// by-scan is the cost before the index (every record's summary read and
// sorted), in the same run.
func BenchmarkModifiedSincePage(b *testing.B) {
	ctx := context.Background()
	sizes := []int{10_000, 100_000}
	stores := map[int]*Store{}
	for _, n := range sizes {
		stores[n] = benchStore(b, n)
	}
	for _, n := range sizes {
		mid := flagcache.ID(fmt.Sprintf("flag-%06d", n/2))
		f, err := stores[n].Get(ctx, mid)
		if err != nil {
			b.Fatal(err)
		}
		at := f.Definition.Metadata.UpdatedAt
		for _, c := range []struct {
			name  string
			since time.Time
			after flagcache.ID
		}{{"first", time.Time{}, ""}, {"middle", at, mid}} {
			b.Run(fmt.Sprintf("%s/N=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					page, err := stores[n].ModifiedSincePage(ctx, c.since, c.after, 100)
					if err != nil || len(page) != 100 {
						b.Fatalf("ModifiedSincePage: %d flags, %v", len(page), err)
					}
				}
			})
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("first-by-scan/N=%d", n), func(b *testing.B) {
			for b.Loop() {
				err := stores[n].view(func(bk buckets) error {
					_, err := bk.scanModified(modifiedFrom(time.Time{}, ""), 100)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
