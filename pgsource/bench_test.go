package pgsource_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/pgsource"
)

// BenchmarkStore measures the Store against the real server on a table of
// 10,000 flags (see fillSQL): one caller, one call at a time.
//
//	go test -run '^$' -bench . -benchtime 3s ./pgsource/
func BenchmarkStore(b *testing.B) {
	const flags = 10_000
	s, schema := mustStore(b, pgsource.Options{})
	mustFill(b, schema, flags)
	ctx := context.Background()
	ids := make([]flagcache.ID, flags)
	for i := range ids {
		ids[i] = flagcache.ID(fmt.Sprintf("flag-%05d", i+1))
	}

	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, ids[i%flags]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetMany50", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			start := (i * 50) % (flags - 50)
			got, err := s.GetMany(ctx, ids[start:start+50])
			if err != nil || len(got) != 50 {
				b.Fatalf("GetMany: got %d flags, %v", len(got), err)
			}
		}
	})
	for _, tt := range []struct {
		name string
		q    func(i int) flagcache.Query
	}{
		{"List/tag,limit100", func(i int) flagcache.Query {
			return flagcache.Query{Tags: []string{fmt.Sprintf("tag-%d", 3+i%4)}, Limit: 100}
		}},
		{"List/owner,limit100", func(i int) flagcache.Query {
			return flagcache.Query{Owner: fmt.Sprintf("team-%d", 3+i%4), Limit: 100}
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				got, err := s.List(ctx, tt.q(i))
				if err != nil || len(got) != 100 {
					b.Fatalf("List: got %d flags, %v", len(got), err)
				}
			}
		})
	}
	b.Run("Update", func(b *testing.B) {
		cur, err := s.Get(ctx, ids[0])
		if err != nil {
			b.Fatal(err)
		}
		def := cur.Definition.Clone()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			def.ID = ids[i%flags]
			if _, err := s.Update(ctx, def, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
