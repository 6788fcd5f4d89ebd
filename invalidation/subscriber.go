package invalidation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Handler receives what a Subscriber sees. Calls come from one goroutine,
// in arrival order.
type Handler interface {
	// Invalidate is called for every decoded message.
	Invalidate(Message)
	// Gap is called when messages may have been missed since the last
	// one delivered; reason says why.
	Gap(reason string)
}

// SubscriberOptions configure a Subscriber.
type SubscriberOptions struct {
	// Channel to subscribe to; default DefaultChannel.
	Channel string
	// Sharded uses Redis 7 sharded pub/sub (SSUBSCRIBE): on a Cluster the
	// channel lives on the shard owning its slot instead of being broadcast
	// over the cluster bus. Publishers must use sharded publishing too.
	Sharded bool
	// HealthInterval bounds how long a dead connection goes unnoticed:
	// after half of it without traffic the subscriber pings, and a ping
	// unanswered for the other half means the connection is dead (it may
	// be half-open: no bytes, no reset). The subscriber then reports a
	// gap, subscribes again on a new connection, and reports a gap once
	// that is confirmed. Half of it also bounds each wait for a
	// subscription's confirmation. Default 5s.
	HealthInterval time.Duration
	// RetryBackoff is the pause after a receive error before receiving
	// again (go-redis reconnects and re-subscribes meanwhile). It doubles
	// while errors repeat, up to MaxRetryBackoff. Defaults 100ms and 5s.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
}

// Subscriber listens for invalidations until Close.
type Subscriber struct {
	client redis.UniversalClient
	ps     *redis.PubSub
	mu     sync.Mutex // guards ps, replaced when a shard drops the subscription
	h      Handler
	opts   SubscriberOptions
	cancel context.CancelFunc
	done   chan struct{}
}

// Subscribe subscribes to the channel and returns once Redis has confirmed
// the subscription, so every message published after Subscribe returns
// reaches h (or is reported as a gap). It fails with the connection error
// if the subscription cannot be confirmed.
func Subscribe(ctx context.Context, client redis.UniversalClient, h Handler, opts SubscriberOptions) (*Subscriber, error) {
	if opts.Channel == "" {
		opts.Channel = DefaultChannel
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 5 * time.Second
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 100 * time.Millisecond
	}
	if opts.MaxRetryBackoff < opts.RetryBackoff {
		opts.MaxRetryBackoff = max(5*time.Second, opts.RetryBackoff)
	}
	s := &Subscriber{client: client, h: h, opts: opts, done: make(chan struct{})}
	ps, err := s.subscribe(ctx)
	if err != nil {
		return nil, err
	}
	s.ps = ps
	loopCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.loop(loopCtx)
	return s, nil
}

// subscribe opens a subscription and waits for its confirmation.
func (s *Subscriber) subscribe(ctx context.Context) (*redis.PubSub, error) {
	kind, ps := "subscribe", (*redis.PubSub)(nil)
	if s.opts.Sharded {
		kind, ps = "ssubscribe", s.client.SSubscribe(ctx, s.opts.Channel)
	} else {
		ps = s.client.Subscribe(ctx, s.opts.Channel)
	}
	// ReceiveTimeout, not Receive: a read deadline whatever the client's
	// ContextTimeoutEnabled, so a dead connection cannot hang us here. A
	// confirmation is a reply like a Pong: due within half the interval.
	timeout := s.opts.HealthInterval / 2
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	msg, err := ps.ReceiveTimeout(ctx, max(timeout, time.Millisecond))
	if err == nil {
		if sub, ok := msg.(*redis.Subscription); !ok || sub.Kind != kind {
			err = fmt.Errorf("invalidation: unexpected first reply %v", msg)
		}
	}
	if err != nil {
		ps.Close()
		return nil, fmt.Errorf("invalidation: %s %s: %w", kind, s.opts.Channel, err)
	}
	return ps, nil
}

// Close stops the subscriber and waits for its goroutine.
func (s *Subscriber) Close() error {
	s.cancel()
	s.mu.Lock()
	err := s.ps.Close()
	s.mu.Unlock()
	<-s.done
	return err
}

func (s *Subscriber) loop(ctx context.Context) {
	defer close(s.done)
	defer func() { // a subscription made by a racing resubscribe
		s.mu.Lock()
		s.ps.Close()
		s.mu.Unlock()
	}()
	// A quiet connection is pinged after half the health interval, and
	// must answer within the other half: a connection gone half-open (no
	// bytes flow, no reset arrives, as behind a dropped conntrack entry)
	// is found within HealthInterval of its last reply. Writing the ping
	// proves nothing there: it lands in the kernel's buffer.
	quiet := s.opts.HealthInterval / 2
	backoff := s.opts.RetryBackoff
	pinged := false // a ping is unanswered
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, quiet)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff, pinged = s.opts.RetryBackoff, false
		}
		if err != nil {
			if isTimeout(err) {
				if pinged {
					pinged = false
					s.h.Gap(fmt.Sprintf("no reply to the health ping within %v: the connection is dead", quiet))
					s.resubscribe(ctx, "after a dead connection")
					continue
				}
				// Quiet channel: ask for a Pong, which arrives through
				// ReceiveTimeout. A failed write makes go-redis
				// reconnect, and its confirmation is a gap below.
				if perr := s.ps.Ping(ctx); perr != nil && ctx.Err() == nil {
					s.h.Gap("health ping failed: " + perr.Error())
				} else {
					pinged = true
				}
				continue
			}
			s.h.Gap("receive failed: " + err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, s.opts.MaxRetryBackoff)
			continue
		}
		switch m := msg.(type) {
		case *redis.Message:
			inv, err := Decode(m.Payload)
			if err != nil {
				s.h.Gap(err.Error())
				continue
			}
			s.h.Invalidate(inv)
		case *redis.Subscription:
			switch m.Kind {
			case "subscribe", "ssubscribe":
				// The first confirmation was consumed by Subscribe: any
				// other one means go-redis reconnected, and messages
				// published while it did are lost.
				s.h.Gap("re-subscribed after a dropped connection")
			case "sunsubscribe":
				// The shard no longer serves the channel's slot (a
				// failover or a slot migration): subscribe again where
				// it now lives.
				s.h.Gap("shard dropped the subscription")
				s.resubscribe(ctx, "after the shard dropped the subscription")
			}
		case *redis.Pong:
		}
	}
}

// resubscribe replaces the subscription, retrying with backoff until it is
// confirmed or the subscriber closes, and then reports a gap: a message
// published before the confirmation may be lost, so only a repair begun
// after it covers them all.
func (s *Subscriber) resubscribe(ctx context.Context, why string) {
	backoff := s.opts.RetryBackoff
	for ctx.Err() == nil {
		attempt, cancel := context.WithTimeout(ctx, s.opts.HealthInterval)
		ps, err := s.subscribe(attempt)
		cancel()
		if err == nil {
			s.mu.Lock()
			old := s.ps
			s.ps = ps
			s.mu.Unlock()
			old.Close()
			s.h.Gap("re-subscribed " + why)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.MaxRetryBackoff)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
