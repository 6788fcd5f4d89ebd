package tiered_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

// A repair begun while the network is dark hangs on a connection the fault
// left dead, and the store's listen to the source is fine and quiet (it
// never notices). Once the source answers a probe again the hung read is
// cut and made anew, so a write committed meanwhile is served within
// moments, not after LoadTimeout (20 s here, past the 10 s the test
// waits), and the cut is neither a failure nor a purge.
func TestStuckRepairCutOnceTheSourceAnswers(t *testing.T) {
	n, src := hangRepair(t)
	src.stuck.Store(false) // the network heals; the hung call stays hung
	eventually(t, "the sidecar to serve version 2", func() bool {
		got, err := n.Get(ctx(t), "f")
		return err == nil && got.Version == 2
	})
	st2 := n.Stats()
	if st2.ReadsCut == 0 {
		t.Errorf("served without a cut read: %+v", st2)
	}
	if st2.Purges != 0 || st2.RepairFailures != 0 {
		t.Errorf("a cut read counted as a failure: %+v", st2)
	}
}

// hangRepair returns a store over a stuckSource whose flag "f" it cached
// at version 1, with a repair hanging (the source stuck) that would bring
// version 2, written behind its back. LoadTimeout is 20 s, past the 10 s a
// test waits.
func hangRepair(t *testing.T) (*node, *stuckSource) {
	t.Helper()
	src := &stuckSource{notifyingSource: newNotifyingSource(0)}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: -1, LoadTimeout: 20 * time.Second}})
	def := mustFlag(t, "f")
	if _, err := n.Create(ctx(t), def); err != nil {
		t.Fatal(err)
	}
	if got, err := n.Get(ctx(t), "f"); err != nil || got.Version != 1 {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	eventually(t, "current", func() bool { return n.Stats().Current })
	src.stuck.Store(true)
	st, err := src.Store.Update(ctx(t), def, 1) // behind the sidecar's back
	if err != nil {
		t.Fatal(err)
	}
	src.revs <- st.Revision // the repair it starts hangs
	eventually(t, "the repair to hang", func() bool { return src.waiting.Load() >= 1 })
	return n, src
}

// slowSource answers every change-feed read after delay, and probes at
// once: a source that is slow, not stuck.
type slowSource struct {
	*memstore.Store
	delay  time.Duration
	slow   atomic.Bool
	probes atomic.Int64
}

func (s *slowSource) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if s.slow.Load() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.delay):
		}
	}
	return s.Store.Changes(ctx, after, limit)
}

func (s *slowSource) Probe(ctx context.Context) error {
	s.probes.Add(1)
	return ctx.Err()
}

func (s *slowSource) Suspect() {}

// A read that is only slow while the source answers probes at once is cut
// once, and then answers: the guard cannot livelock a slow source (an
// expensive read on a source starved of CPU waits four times as long as a
// trivial probe without being stuck).
func TestSlowReadIsCutBoundedTimes(t *testing.T) {
	src := &slowSource{Store: memstore.New(memstore.Options{}), delay: time.Second}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: -1, LoadTimeout: 20 * time.Second}})
	if _, err := n.Create(ctx(t), mustFlag(t, "f")); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, n)
	src.slow.Store(true)
	cut := n.Stats().ReadsCut
	feed, err := n.Changes(ctx(t), 0, 10)
	if err != nil || len(feed.Changes) != 1 {
		t.Fatalf("Changes: %+v, %v", feed, err)
	}
	if got := n.Stats().ReadsCut - cut; got != 1 {
		t.Errorf("the slow read was cut %d times, want once (then it runs to its deadline)", got)
	}
	if src.probes.Load() == 0 {
		t.Error("the source was never probed")
	}
}

// A repair whose feed read gets no answer within LoadTimeout found the
// source unreachable: the LRU is kept (and served, marked stale), not
// purged as after a failed read. Before, the timeout purged it, and a
// sidecar left without a baseline served whatever Redis held.
func TestRepairTimeoutKeepsTheLRU(t *testing.T) {
	src := &stuckSource{notifyingSource: newNotifyingSource(0)}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: -1, LoadTimeout: 300 * time.Millisecond}})
	def := mustFlag(t, "f")
	if _, err := n.Create(ctx(t), def); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Get(ctx(t), "f"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "current", func() bool { return n.Stats().Current })
	src.stuck.Store(true)
	src.revs <- 99 // a revision past the applied one: the repair it starts times out
	eventually(t, "the repair to time out", func() bool { return n.Stats().RepairFailures > 0 })
	st := n.Stats()
	if st.Purges != 0 || st.LRULen == 0 {
		t.Fatalf("a timed-out repair purged the LRU: %+v", st)
	}
	hit, err := n.GetHit(ctx(t), "f")
	if err != nil || hit.Tier != flagcache.TierLRU || !hit.Stale {
		t.Fatalf("GetHit while the source does not answer: %+v, %v; want a stale LRU hit", hit, err)
	}
}

// slowPlain is a source with no connections (no Prober) whose feed reads
// are long.
type slowPlain struct {
	*memstore.Store
	slow atomic.Bool
}

func (s *slowPlain) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if s.slow.Load() {
		time.Sleep(600 * time.Millisecond) // a long read, not a stuck one
	}
	return s.Store.Changes(ctx, after, limit)
}

// A source without connections (bbolt, memory) is not guarded: a read of
// it that is merely long (a List of 100,000 flags) is never cut and made
// again.
func TestConnectionlessSourceIsNotGuarded(t *testing.T) {
	src := &slowPlain{Store: memstore.New(memstore.Options{})}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: -1, LoadTimeout: 20 * time.Second}})
	if _, err := n.Create(ctx(t), mustFlag(t, "f")); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, n)
	src.slow.Store(true)
	if _, err := n.Changes(ctx(t), 0, 10); err != nil {
		t.Fatal(err)
	}
	if got := n.Stats().ReadsCut; got != 0 {
		t.Errorf("a long read of a connectionless source was cut %d times", got)
	}
}
