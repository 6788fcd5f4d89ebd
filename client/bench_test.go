package client_test

import (
	"context"
	"testing"

	"github.com/flagcache/flagcache/client"
)

// BenchmarkGet compares a Get over HTTP (loopback, keep-alive) with a Get
// the local cache answers, on one daemon over a memstore.
func BenchmarkGet(b *testing.B) {
	daemon := memDaemon(b)
	for _, bc := range []struct {
		name string
		opts []client.Option
	}{
		{"http", nil},
		{"local-cache", []client.Option{client.WithLocalCache(1000)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newClient(b, daemon.URL, bc.opts...)
			if _, err := c.Get(context.Background(), "bench"); err != nil {
				mustCreate(b, c, "bench")
			}
			if bc.opts != nil {
				eventually(b, "the watch stream", func() bool { return c.Stats().Connected })
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Get(ctx, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetParallel is the same under concurrent readers.
func BenchmarkGetParallel(b *testing.B) {
	daemon := memDaemon(b)
	mustCreate(b, newClient(b, daemon.URL), "bench")
	for _, bc := range []struct {
		name string
		opts []client.Option
	}{
		{"http", nil},
		{"local-cache", []client.Option{client.WithLocalCache(1000)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newClient(b, daemon.URL, bc.opts...)
			if bc.opts != nil {
				eventually(b, "the watch stream", func() bool { return c.Stats().Connected })
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := c.Get(ctx, "bench"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
