package boltsource_test

import (
	"context"
	"testing"

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
