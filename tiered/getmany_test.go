package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

func createFlags(t *testing.T, s flagcache.Store, n int) []flagcache.ID {
	t.Helper()
	ids := make([]flagcache.ID, n)
	for i := range ids {
		ids[i] = flagcache.ID(fmt.Sprintf("m%d", i))
		if _, err := s.Create(ctx(t), mustFlag(t, string(ids[i]))); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func wantAll(t *testing.T, got map[flagcache.ID]*flagcache.Stored, err error, ids []flagcache.ID) {
	t.Helper()
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	for _, id := range ids {
		if got[id] == nil {
			t.Fatalf("GetMany: %s missing (got %d of %d)", id, len(got), len(ids))
		}
	}
}

// A batch that misses the LRU is served by Redis in one round trip: no
// source read for flags another sidecar put there.
func TestGetManyFromRedis(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	_, c := miniClient(t)
	a := newNode(t, src, nodeConfig{client: c, prefix: "many"})
	b := newNode(t, src, nodeConfig{client: c, prefix: "many"})
	ids := createFlags(t, a, 5)
	eventually(t, "B to hear the writes", func() bool { return b.Stats().InvalidationsReceived >= 5 })
	reads := src.getManys.Load()
	got, err := b.GetMany(ctx(t), append(ids, "absent"))
	wantAll(t, got, err, ids)
	if n := src.getManys.Load() - reads; n != 1 {
		t.Errorf("source batch reads: %d, want 1 (for the absent id only)", n)
	}
	if st := b.Stats(); st.RedisHits < int64(len(ids)) {
		t.Errorf("Redis hits: %d, want ≥ %d", st.RedisHits, len(ids))
	}
	// Filled: the second batch is all LRU.
	reads = src.getManys.Load()
	got, err = b.GetMany(ctx(t), ids)
	wantAll(t, got, err, ids)
	if n := src.getManys.Load() - reads; n != 0 {
		t.Errorf("source batch reads after the fill: %d, want 0", n)
	}
}

// With the source down, a batch of cached flags past their TTL is served
// from the expired copies, as Get does; a batch with an uncached id fails
// with ErrUnavailable.
func TestGetManyStaleWhenSourceDown(t *testing.T) {
	src := &countingSource{Store: memstore.New(memstore.Options{})}
	n := newNode(t, src, nodeConfig{})
	ids := createFlags(t, src, 3)
	got, err := n.GetMany(ctx(t), ids)
	wantAll(t, got, err, ids)
	src.down.Store(true)
	tiered.AdvanceClock(n.Store, time.Hour)
	got, err = n.GetMany(ctx(t), ids)
	wantAll(t, got, err, ids)
	if _, err := n.GetMany(ctx(t), append(ids, "uncached")); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Fatalf("batch with an uncached id, source down: %v, want ErrUnavailable", err)
	}
}

// deadlineSource records the deadline of the context its GetMany runs on.
type deadlineSource struct {
	flagcache.Store
	deadline chan time.Time
}

func (d *deadlineSource) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	dl, _ := ctx.Deadline()
	d.deadline <- dl
	return d.Store.GetMany(ctx, ids)
}

// The source read of a batch is bounded by LoadTimeout even when the
// caller's context has no deadline.
func TestGetManyBoundedByLoadTimeout(t *testing.T) {
	src := &deadlineSource{Store: memstore.New(memstore.Options{}), deadline: make(chan time.Time, 1)}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{LoadTimeout: time.Minute}})
	started := time.Now()
	if _, err := n.GetMany(context.Background(), []flagcache.ID{"x"}); err != nil {
		t.Fatal(err)
	}
	dl := <-src.deadline
	if dl.IsZero() || dl.After(started.Add(time.Minute+time.Second)) {
		t.Fatalf("the batch's source read ran with deadline %v, want within LoadTimeout of %v", dl, started)
	}
}
