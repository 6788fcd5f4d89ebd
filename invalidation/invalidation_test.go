package invalidation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/invalidation"
)

// recorder is a Handler that hands what it sees to channels.
type recorder struct {
	msgs chan invalidation.Message
	gaps chan string
}

func newRecorder() *recorder {
	return &recorder{msgs: make(chan invalidation.Message, 16), gaps: make(chan string, 16)}
}

func (r *recorder) Invalidate(m invalidation.Message) { r.msgs <- m }
func (r *recorder) Gap(reason string)                 { r.gaps <- reason }

func (r *recorder) wantMessage(t *testing.T, want invalidation.Message) {
	t.Helper()
	select {
	case got := <-r.msgs:
		if got != want {
			t.Fatalf("message: got %+v, want %+v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no message, want %+v", want)
	}
}

func (r *recorder) wantGap(t *testing.T, substr string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case reason := <-r.gaps:
			if strings.Contains(reason, substr) {
				return
			}
		case <-deadline:
			t.Fatalf("no gap mentioning %q", substr)
		}
	}
}

func TestDecode(t *testing.T) {
	good := invalidation.Message{ID: "f", Version: 2, Op: flagcache.OpUpsert, Revision: 9, Origin: "a"}
	if got, err := invalidation.Decode(good.Encode()); err != nil || got != good {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{
		``, `{`, `[]`, `{"id":"f","version":2,"op":"upsert"}`,
		`{"id":"../x","version":2,"op":"upsert","revision":1}`,
		`{"id":"f","version":0,"op":"upsert","revision":1}`,
		`{"id":"f","version":1,"op":"merge","revision":1}`,
	} {
		if _, err := invalidation.Decode(bad); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

func subscribe(t *testing.T, c redis.UniversalClient, h invalidation.Handler, opts invalidation.SubscriberOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := invalidation.Subscribe(ctx, c, h, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
}

func TestDeliversAndReportsBadMessages(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	r := newRecorder()
	subscribe(t, c, r, invalidation.SubscriberOptions{Channel: "inv"})

	msg := invalidation.Message{ID: "f", Version: 3, Op: flagcache.OpDelete, Revision: 7, Origin: "x"}
	if err := invalidation.NewPublisher(c, "inv").Publish(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	r.wantMessage(t, msg)
	c.Publish(context.Background(), "inv", "not json")
	r.wantGap(t, "bad payload")
}

func TestSubscribeFailsWithoutRedis(t *testing.T) {
	c := redis.NewClient(redistest.FastOptions("127.0.0.1:1"))
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := invalidation.Subscribe(ctx, c, newRecorder(), invalidation.SubscriberOptions{}); err == nil {
		t.Fatal("Subscribe to an unreachable Redis succeeded")
	}
	err := invalidation.NewPublisher(c, "").Publish(ctx, invalidation.Message{ID: "f", Version: 1, Op: flagcache.OpUpsert, Revision: 1})
	if err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("Publish to an unreachable Redis: %v, want unavailable", err)
	}
}

// A killed subscription connection is re-established by go-redis; the
// subscriber reports the moment as a gap, and messages flow again.
func TestGapOnResubscribe(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client()
	for _, sharded := range []bool{false, true} {
		r := newRecorder()
		subscribe(t, c, r, invalidation.SubscriberOptions{Channel: "inv", Sharded: sharded, HealthInterval: 100 * time.Millisecond})
		if err := c.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		r.wantGap(t, "re-subscribed")
		pub := invalidation.NewPublisher(c, "inv")
		if sharded {
			pub = invalidation.NewShardedPublisher(c, "inv")
		}
		msg := invalidation.Message{ID: "f", Version: 2, Op: flagcache.OpUpsert, Revision: 4}
		if err := pub.Publish(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		r.wantMessage(t, msg)
	}
}
