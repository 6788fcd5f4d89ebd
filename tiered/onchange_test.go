package tiered_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache/tiered"
)

// OnChange fires for every change the store applies, whatever its origin:
// its own writes (before the write returns), a source notification's
// repair, an invalidation from another sidecar. One notifier is all a
// watch stream needs.
func TestOnChangeEveryOrigin(t *testing.T) {
	_, c := miniClient(t)
	src := newNotifyingSource(0)
	a := newNode(t, src, nodeConfig{client: c, prefix: "onchange", opts: tiered.Options{ResyncInterval: -1}})
	b := newNode(t, src.Store, nodeConfig{client: c, prefix: "onchange", opts: tiered.Options{ResyncInterval: -1}})
	var changes atomic.Int64
	a.OnChange(func() { changes.Add(1) })
	waitStarted(t, a)

	def := mustFlag(t, "own")
	if _, err := a.Create(ctx(t), def); err != nil {
		t.Fatal(err)
	}
	if got := changes.Load(); got < 1 {
		t.Fatalf("own write: OnChange called %d times by the time it returned, want ≥ 1", got)
	}

	before := changes.Load()
	st, err := src.Store.Create(ctx(t), mustFlag(t, "foreign")) // behind every sidecar's back
	if err != nil {
		t.Fatal(err)
	}
	select {
	case src.revs <- st.Revision:
	case <-time.After(10 * time.Second):
		t.Fatal("no store is listening to the source's notifications")
	}
	eventually(t, "OnChange after the notified repair", func() bool { return changes.Load() > before })

	before = changes.Load()
	if _, err := b.Update(ctx(t), def, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "OnChange after B's invalidation", func() bool { return changes.Load() > before })
	if got := a.Stats(); !got.Current {
		t.Errorf("A after applying every change: %+v, want current", got)
	}
}
