package tiered_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

// hangingSource stops answering once hang is set, as a source behind a
// half-open connection does: its calls return only when their context ends.
type hangingSource struct {
	flagcache.Store
	hang atomic.Bool
}

func (h *hangingSource) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if h.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.Store.Changes(ctx, after, limit)
}

// A feed read through the store (what a watch stream does) on a source
// that stopped answering fails within LoadTimeout as unavailable, even on
// a context without a deadline, instead of hanging the stream for good.
func TestChangesBoundedWhenSourceHangs(t *testing.T) {
	src := &hangingSource{Store: memstore.New(memstore.Options{})}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{LoadTimeout: 50 * time.Millisecond, ResyncInterval: -1}})
	src.hang.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := n.Changes(context.Background(), 0, 10)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, flagcache.ErrUnavailable) {
			t.Fatalf("Changes on a hung source: %v, want ErrUnavailable", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Changes on a hung source did not return")
	}
}

// brokenFeed answers Changes with an error that is not "unavailable" (a
// feed that cannot be read: the LRU cannot be repaired) once broken is set.
type brokenFeed struct {
	flagcache.Store
	broken atomic.Bool
}

func (b *brokenFeed) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if b.broken.Load() {
		return nil, errors.New("feed unreadable")
	}
	return b.Store.Changes(ctx, after, limit)
}

// A repair that keeps failing purges the LRU once, not at every retry,
// and is reported by SyncError (the daemon's /readyz) until it succeeds.
func TestRepairFailingPurgesOnce(t *testing.T) {
	src := &brokenFeed{Store: memstore.New(memstore.Options{})}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: 5 * time.Millisecond, BreakerCooldown: time.Millisecond}})
	if _, err := n.Create(ctx(t), mustFlag(t, "f")); err != nil {
		t.Fatal(err)
	}
	src.broken.Store(true)
	eventually(t, "repairs to fail in a row", func() bool { return n.Stats().RepairFailures >= 6 })
	if got := n.Stats().Purges; got != 1 {
		t.Errorf("purges during one failure episode: %d, want 1", got)
	}
	if err := n.SyncError(); err == nil {
		t.Error("SyncError is nil while repairs fail")
	}
	src.broken.Store(false)
	eventually(t, "a repair to succeed", func() bool { return n.SyncError() == nil })
}
