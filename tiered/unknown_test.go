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

// answerLostSource commits an Update and then fails it as unavailable, as
// a connection lost between the commit and its answer does.
type answerLostSource struct {
	*memstore.Store
	lose atomic.Bool
}

func (s *answerLostSource) Update(ctx context.Context, def *flagcache.Definition, expected int64) (*flagcache.Stored, error) {
	st, err := s.Store.Update(ctx, def, expected)
	if err == nil && s.lose.Load() {
		return nil, flagcache.Unavailable(errors.New("connection reset after the commit"))
	}
	return st, err
}

// A write that committed but whose writer saw an error was neither put
// into Redis nor announced. A sidecar that holds the old value and hears
// nothing from the source (no notifications, resync off) must still be
// told: the writer replays the feed after an unknown outcome.
func TestUnknownOutcomeWriteAnnounced(t *testing.T) {
	_, client := miniClient(t)
	mem := memstore.New(memstore.Options{})
	src := &answerLostSource{Store: mem}
	opts := tiered.Options{ResyncInterval: -1, LoadTimeout: 500 * time.Millisecond}
	a := newNode(t, src, nodeConfig{client: client, prefix: "lost", opts: opts})
	b := newNode(t, mem, nodeConfig{client: client, prefix: "lost", opts: opts})

	v1, err := a.Create(ctx(t), mustFlag(t, "f"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b holds v1", func() bool {
		h, err := b.GetHit(ctx(t), "f")
		return err == nil && h.Stored.Version == v1.Version && h.Tier == flagcache.TierLRU
	})

	src.lose.Store(true)
	d := v1.Definition.Clone()
	d.Name = "renamed"
	if _, err := a.Update(ctx(t), d, v1.Version); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Fatalf("Update: %v, want the lost answer", err)
	}
	want, err := mem.Get(ctx(t), "f")
	if err != nil || want.Version != v1.Version+1 {
		t.Fatalf("the source holds %v, %v: the write should have committed", want, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		got, err := b.Get(ctx(t), "f")
		if err == nil && got.Version == want.Version {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("b still serves %v, %v 3 s after a committed write whose answer was lost; the source has v%d", got, err, want.Version)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
