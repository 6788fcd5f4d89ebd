package boltsource_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
)

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s := mustOpen(b, tempPath(b), boltsource.Options{})
	mustCreate(b, s, mustFlag(b, "new-checkout", "New checkout"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "new-checkout"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate measures a durable write: one committed, fsynced bbolt
// transaction per Update.
func BenchmarkUpdate(b *testing.B) {
	ctx := context.Background()
	s := mustOpen(b, tempPath(b), boltsource.Options{})
	def := mustFlag(b, "new-checkout", "New checkout")
	mustCreate(b, s, def)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Update(ctx, def, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList measures the scan List makes over 1000 flags.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	s := mustOpen(b, tempPath(b), boltsource.Options{})
	for i := range 1000 {
		mustCreate(b, s, mustFlag(b, fmt.Sprintf("flag-%04d", i), fmt.Sprintf("Flag %d", i)))
	}
	q := flagcache.Query{Limit: 100}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.List(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
