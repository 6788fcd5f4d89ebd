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

// notifyingSource is a memstore that announces commits the way pgsource's
// LISTEN/NOTIFY does: the test sends the revisions to announce, and the
// first failures listens fail as a lost connection would; the listen after
// them starts once open is closed.
type notifyingSource struct {
	*memstore.Store
	revs     chan int64
	open     chan struct{}
	lose     chan struct{} // ends an open listen as a lost connection
	failures atomic.Int64
	listens  atomic.Int64
}

var _ tiered.RevisionWatcher = (*notifyingSource)(nil)

func newNotifyingSource(failures int64) *notifyingSource {
	n := &notifyingSource{Store: memstore.New(memstore.Options{}), revs: make(chan int64), open: make(chan struct{}), lose: make(chan struct{})}
	n.failures.Store(failures)
	if failures == 0 {
		close(n.open)
	}
	return n
}

func (n *notifyingSource) WatchRevisions(ctx context.Context, notify func(int64)) error {
	n.listens.Add(1)
	if n.failures.Add(-1) >= 0 {
		return errors.New("listening connection lost")
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-n.open:
	}
	feed, err := n.Store.Changes(ctx, 0, 1)
	if err != nil {
		return err
	}
	notify(feed.Revision)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case rev := <-n.revs:
			notify(rev)
		case <-n.lose:
			return errors.New("listening connection lost")
		}
	}
}

// A write made behind the sidecar's back (a foreign SQL writer): with no
// periodic resync and no invalidation, the source's commit notification
// alone makes the sidecar serve it.
func TestSourceNotificationServesForeignWrite(t *testing.T) {
	src := newNotifyingSource(0)
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: -1}})
	def := mustFlag(t, "foreign")
	if _, err := n.Create(ctx(t), def); err != nil {
		t.Fatal(err)
	}
	if got, err := n.Get(ctx(t), "foreign"); err != nil || got.Version != 1 {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	waitStarted(t, n)
	st, err := src.Store.Update(ctx(t), def, 1) // behind the sidecar's back
	if err != nil {
		t.Fatal(err)
	}
	select {
	case src.revs <- st.Revision:
	case <-time.After(10 * time.Second):
		t.Fatal("the store is not listening to the source's notifications")
	}
	eventually(t, "the sidecar to serve version 2", func() bool {
		got, err := n.Get(ctx(t), "foreign")
		return err == nil && got.Version == 2
	})
}

// Listening fails twice before it works: the store listens again (with
// backoff), and the notification sent when listening starts repairs a
// write committed while it was not listening.
func TestSourceNotificationsRetried(t *testing.T) {
	src := newNotifyingSource(2)
	def := mustFlag(t, "missed")
	if _, err := src.Create(ctx(t), def); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: -1}})
	if got, err := n.Get(ctx(t), "missed"); err != nil || got.Version != 1 {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	waitStarted(t, n)
	if _, err := src.Store.Update(ctx(t), def, 1); err != nil {
		t.Fatal(err)
	}
	close(src.open)
	eventually(t, "the sidecar to serve version 2", func() bool {
		got, err := n.Get(ctx(t), "missed")
		return err == nil && got.Version == 2
	})
	// Served by the poll while deaf, or by the repair the working listen
	// starts; either way the listen is retried until it works.
	eventually(t, "two failed listens, then one that works", func() bool { return src.listens.Load() >= 3 })
	eventually(t, "current once listening", func() bool { return n.Stats().Current })
}

// waitStarted waits for the repair the store runs as it starts, so a
// later write can only reach it through a notification.
func waitStarted(t *testing.T, n *node) {
	t.Helper()
	eventually(t, "the first repair", func() bool { return n.Stats().Resyncs > 0 })
}

// While the store is not listening to the source's notifications — before
// the first listen works, and from a lost connection until it listens
// again — a plain SQL write would go unheard, so the store does not call
// its applied revision current (collections are then not answered from
// memory as the source's answer); listening again makes it current.
func TestNotListeningIsNotCurrent(t *testing.T) {
	src := newNotifyingSource(1 << 40) // every listen fails
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: -1}})
	if _, err := n.Create(ctx(t), mustFlag(t, "a")); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, n)
	eventually(t, "a few listens", func() bool { return src.listens.Load() >= 2 })
	if st := n.Stats(); st.Current {
		t.Fatalf("current while it never listened: %+v", st)
	}
	src.failures.Store(0)
	close(src.open)
	eventually(t, "current once listening", func() bool { return n.Stats().Current })

	src.failures.Store(1 << 40) // the listens after the loss fail
	src.lose <- struct{}{}
	eventually(t, "not current after the listen was lost", func() bool { return !n.Stats().Current })
	listens := src.listens.Load()
	eventually(t, "listening again tried", func() bool { return src.listens.Load() > listens+1 })
	if st := n.Stats(); st.Current {
		t.Fatalf("current while not listening: %+v", st)
	}
	src.failures.Store(0)
	eventually(t, "current once listening again", func() bool { return n.Stats().Current })
}

// stuckSource is a notifyingSource whose change-feed reads, while stuck is
// set, hang until their context ends — as a call on a connection a black
// hole left half-open does, even after the network heals.
type stuckSource struct {
	*notifyingSource
	stuck   atomic.Bool
	waiting atomic.Int64 // reads hanging now
}

// Probe and Suspect make it a tiered.Prober, so its reads are guarded: a
// probe is a one-change feed read, stuck like the others while stuck is
// set.
func (s *stuckSource) Probe(ctx context.Context) error {
	_, err := s.Changes(ctx, 0, 1)
	return err
}

func (s *stuckSource) Suspect() {}

func (s *stuckSource) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if s.stuck.Load() {
		s.waiting.Add(1)
		defer s.waiting.Add(-1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.notifyingSource.Changes(ctx, after, limit)
}

// A repair begun during an outage hangs on a connection the outage left
// dead. When the store listens to the source again, the source answers on
// a new connection: the repair is cut short and run anew, so a write
// committed meanwhile is served within moments, not after LoadTimeout
// (20 s here, past the 10 s the test waits).
func TestListenAgainCutsAStuckRepair(t *testing.T) {
	n, src := hangRepair(t)
	src.stuck.Store(false) // the network heals; the hung call stays hung
	src.lose <- struct{}{} // the listen notices and listens again
	eventually(t, "the sidecar to serve version 2", func() bool {
		got, err := n.Get(ctx(t), "f")
		return err == nil && got.Version == 2
	})
	if st := n.Stats(); st.Purges != 0 || st.RepairFailures != 0 {
		t.Errorf("a cut repair counted as a failure: %+v", st)
	}
}

// While listening to the source fails (a dial into a black hole waits out
// its timeout, then the backoff), a plain SQL write is still served: the
// store polls the feed while it is deaf. No resync, no invalidation here.
func TestDeafStorePollsTheFeed(t *testing.T) {
	src := newNotifyingSource(1 << 40) // every listen fails
	def := mustFlag(t, "f")
	if _, err := src.Create(ctx(t), def); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, src, nodeConfig{opts: tiered.Options{ResyncInterval: -1}})
	if got, err := n.Get(ctx(t), "f"); err != nil || got.Version != 1 {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	waitStarted(t, n)
	if _, err := src.Store.Update(ctx(t), def, 1); err != nil { // behind the sidecar's back
		t.Fatal(err)
	}
	eventually(t, "the deaf sidecar to serve version 2", func() bool {
		got, err := n.Get(ctx(t), "f")
		return err == nil && got.Version == 2
	})
}
