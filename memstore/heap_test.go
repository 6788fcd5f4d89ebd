package memstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
)

// TestHeapPerFlag weighs what the store keeps of a flag of about 1 KiB
// written as the HTTP API writes it (decoded from JSON, so carrying what
// it was decoded from): its JSON once, shared by the flag and its history,
// and the few fields queries read. Kept decoded, as it was before, such a
// flag took about 6 KiB (a bare daemon on the memory source held 1.4 GB
// for 100,000 of them).
func TestHeapPerFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("weighs the heap of 2,000 flags")
	}
	const n = 2000
	ctx := context.Background()
	bodies := make([][]byte, n) // what clients send; kept alive through both weighings
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"id":"flag-%06d","name":"Flag %d","description":%q,"kind":"boolean","default_value":false,`+
			`"variations":[{"value":true},{"value":false}],"environments":{"production":{"enabled":true,"rollout":{"percent":%d}},`+
			`"staging":{"enabled":false},"development":{"enabled":true}},"status":"active",`+
			`"metadata":{"tags":["bench","team-%02d"],"owner":"team-%02d"},"x-extra":{"a":[1,2,3]}}`,
			i, i, strings.Repeat(fmt.Sprintf("padding %d ", i), 60)[:600], i%100, i%20, i%20)
	}
	s := memstore.New(memstore.Options{})
	before := liveHeap()
	var raw int
	for _, b := range bodies {
		def := new(flagcache.Definition)
		if err := json.Unmarshal(b, def); err != nil {
			t.Fatal(err)
		}
		stored, err := s.Create(ctx, def)
		if err != nil {
			t.Fatal(err)
		}
		raw += len(stored.Definition.AppendJSON(nil))
	}
	perFlag := float64(liveHeap()-before) / n
	rawPerFlag := float64(raw) / n
	t.Logf("%.0f B of heap per flag of %.0f B of JSON (%.2f×)", perFlag, rawPerFlag, perFlag/rawPerFlag)
	if perFlag > 2.5*rawPerFlag {
		t.Errorf("got %.0f B of heap per flag of %.0f B of JSON, want at most 2.5× (its JSON, kept once, and the fields queries read)", perFlag, rawPerFlag)
	}
	if _, err := s.Get(ctx, "flag-000001"); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(s)
	runtime.KeepAlive(bodies)
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
