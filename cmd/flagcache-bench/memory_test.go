package main

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

// BenchmarkLRUMemory accounts, in one process, for the heap an LRU full of
// 100,000 flags of ~1 KiB costs when it is filled as the daemon's GETs
// fill it (GetEncoded), and splits it: the encoded bodies and the rest
// (entries, the LRU's lists and maps, ids). It also weighs what a decoded
// Stored per flag would add (the LRU keeps one only for flags read through
// Get, GetHit or GetMany). The memory scenario measures the RSS of a
// daemon; this says where its bytes go. Run once:
//
//	go test -run '^$' -bench LRUMemory -benchtime 1x ./cmd/flagcache-bench/
func BenchmarkLRUMemory(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	ds := NewDataset("mem", n, 1024)
	src := memstore.New(memstore.Options{})
	for _, d := range ds.Defs {
		if _, err := src.Create(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	ds.Defs = nil
	for b.Loop() {
		base := liveHeap()
		ts := tiered.New(src, tiered.Options{LRUSize: n + n/4, LRUTTL: 24 * time.Hour})
		for deadline := time.Now().Add(2 * time.Minute); ts.Stats().AppliedRevision < 0; { // fills are cached from the first baseline revision on
			if time.Now().After(deadline) {
				b.Fatal("the tiered store has no baseline revision after 2 minutes")
			}
			time.Sleep(10 * time.Millisecond)
		}
		var raw int64
		for _, id := range ds.IDs {
			h, err := ts.GetEncoded(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			raw += int64(len(h.Body))
		}
		cached := liveHeap()
		hits := make([]flagcache.Encoded, n) // hold what the LRU holds, a second time, to weigh its parts
		for i, id := range ds.IDs {
			if hits[i], _ = ts.GetEncoded(ctx, id); hits[i].Tier != flagcache.TierLRU {
				b.Fatalf("%s: read from %s, want the LRU", id, hits[i].Tier)
			}
		}
		// Bodies alone: copies of the bytes.
		bodies := make([][]byte, n)
		for i := range hits {
			bodies[i] = append([]byte(nil), hits[i].Body...)
		}
		withBodies := liveHeap()
		// Decoded values alone, as a fill gets them from the source: what
		// the LRU would hold beside each body if it kept them.
		decoded := make([]*flagcache.Stored, n)
		for i, id := range ds.IDs {
			var err error
			if decoded[i], err = src.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		withDecoded := liveHeap()
		perFlag := func(v uint64) float64 { return float64(v) / n }
		lru := perFlag(cached - base)
		body := perFlag(withBodies - cached)
		stored := perFlag(withDecoded - withBodies)
		b.ReportMetric(float64(raw)/n, "raw-B/flag")
		b.ReportMetric(lru, "lru-heap-B/flag")
		b.ReportMetric(body, "body-B/flag")
		b.ReportMetric(stored, "stored-B/flag")
		b.ReportMetric(lru-body, "rest-B/flag")
		b.ReportMetric(lru/(float64(raw)/n), "lru-heap/raw")
		runtime.KeepAlive(hits)
		runtime.KeepAlive(bodies)
		runtime.KeepAlive(decoded)
		ts.Close()
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
