package invalidation_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/faultproxy"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/invalidation"
)

// A subscription whose connection goes half-open (behind a proxy that
// black-holes it: no byte flows, no reset arrives) is found dead within
// the health interval and reported as a gap; once the network heals the
// subscriber is on a new connection, reports the gap again after its
// confirmation, and receives messages. Before: the health check wrote a
// PING, never waited for the PONG, and reported nothing, ever.
func TestHalfOpenConnectionIsAGap(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	proxy := faultproxy.Start(t, srv.Addr)
	c := redis.NewClient(redistest.FastOptions(proxy.Addr))
	t.Cleanup(func() { c.Close() })
	r := newRecorder()
	subscribe(t, c, r, invalidation.SubscriberOptions{Channel: "inv", HealthInterval: 200 * time.Millisecond})

	proxy.Blackhole()
	start := time.Now()
	r.wantGap(t, "no reply to the health ping")
	t.Logf("half-open connection reported as a gap after %v (health interval 200ms)", time.Since(start).Round(time.Millisecond))
	proxy.Heal()
	r.wantGap(t, "re-subscribed after a dead connection")
	msg := invalidation.Message{ID: "f", Version: 2, Op: flagcache.OpUpsert, Revision: 4}
	if err := invalidation.NewPublisher(srv.Client(), "inv").Publish(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	r.wantMessage(t, msg)
}

// publishingRecorder publishes a message from inside its first Gap call,
// as a write landing at that moment would, and records whether that
// message, or a later gap, reached it.
type publishingRecorder struct {
	pub  *invalidation.Publisher
	msg  invalidation.Message
	mu   sync.Mutex
	gaps []string
	got  map[invalidation.Message]bool
	pubd bool
	err  error
}

func (r *publishingRecorder) Invalidate(m invalidation.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[m] = true
}

func (r *publishingRecorder) Gap(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaps = append(r.gaps, reason)
	if strings.Contains(reason, "shard dropped") && !r.pubd {
		r.pubd = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.err = r.pub.Publish(ctx, r.msg)
	}
}

// covered reports whether the message published in the first gap was
// delivered or followed by another gap, and whether m was delivered.
func (r *publishingRecorder) state(m invalidation.Message) (published, covered, delivered bool, gaps []string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var after bool
	for i, g := range r.gaps {
		if strings.Contains(g, "shard dropped") && i+1 < len(r.gaps) {
			after = true
		}
	}
	return r.pubd, r.got[r.msg] || after, r.got[m], append([]string(nil), r.gaps...), r.err
}

// When a shard stops serving the channel's slot (a manual failover here)
// Redis sends sunsubscribe and the subscriber subscribes again where the
// slot now lives. A message published between the two is lost, so a gap
// must be reported after the new subscription is confirmed. Before, the
// only gap came first: the message the handler published in it was lost
// and nothing said so.
func TestShardDropReportsGapAfterConfirmation(t *testing.T) {
	cluster := redistest.StartCluster(t)
	c := cluster.Client()
	const channel = "inv"
	r := &publishingRecorder{
		pub: invalidation.NewShardedPublisher(c, channel),
		msg: invalidation.Message{ID: "in-between", Version: 2, Op: flagcache.OpUpsert, Revision: 7},
		got: map[invalidation.Message]bool{},
	}
	subscribe(t, c, r, invalidation.SubscriberOptions{Channel: channel, Sharded: true, HealthInterval: time.Second})
	cluster.FailoverPrimaryOf(channel)

	// Publish markers until one arrives: the new subscription is live.
	pub := invalidation.NewShardedPublisher(c, channel)
	deadline := time.Now().Add(30 * time.Second)
	for rev := int64(100); ; rev++ {
		marker := invalidation.Message{ID: "marker", Version: 1, Op: flagcache.OpUpsert, Revision: rev}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		pub.Publish(ctx, marker) // fails while the cluster moves the slot
		cancel()
		published, covered, delivered, gaps, err := r.state(marker)
		if err != nil {
			t.Fatalf("publish in the gap: %v", err)
		}
		if published && delivered {
			if !covered {
				t.Fatalf("the message published right after the sunsubscribe was lost and no gap followed it (gaps: %q)", gaps)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no marker delivered within 30s of the failover (published in the gap: %v; gaps: %q)", published, gaps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
