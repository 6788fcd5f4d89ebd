package invalidation

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	// HealthInterval: after this long without traffic the subscriber pings
	// the connection; a failed ping is a gap. Default 5s.
	HealthInterval time.Duration
	// RetryBackoff is the pause after a receive error before receiving
	// again (go-redis reconnects and re-subscribes meanwhile). It doubles
	// while errors repeat, up to MaxRetryBackoff. Defaults 100ms and 5s.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
}

// Subscriber listens for invalidations until Close.
type Subscriber struct {
	ps     *redis.PubSub
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
	ps := client.Subscribe(ctx, opts.Channel)
	msg, err := ps.Receive(ctx)
	if err == nil {
		if sub, ok := msg.(*redis.Subscription); !ok || sub.Kind != "subscribe" {
			err = fmt.Errorf("invalidation: unexpected first reply %T", msg)
		}
	}
	if err != nil {
		ps.Close()
		return nil, fmt.Errorf("invalidation: subscribe %s: %w", opts.Channel, err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	s := &Subscriber{ps: ps, h: h, opts: opts, cancel: cancel, done: make(chan struct{})}
	go s.loop(loopCtx)
	return s, nil
}

// Close stops the subscriber and waits for its goroutine.
func (s *Subscriber) Close() error {
	s.cancel()
	err := s.ps.Close()
	<-s.done
	return err
}

func (s *Subscriber) loop(ctx context.Context) {
	defer close(s.done)
	backoff := s.opts.RetryBackoff
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, s.opts.HealthInterval)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = s.opts.RetryBackoff
		}
		if err != nil {
			if isTimeout(err) {
				// Quiet channel: check the connection is alive. The Pong
				// arrives through ReceiveTimeout.
				if perr := s.ps.Ping(ctx); perr != nil && ctx.Err() == nil {
					s.h.Gap("health ping failed: " + perr.Error())
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
			// The first confirmation was consumed by Subscribe: any other
			// one means go-redis reconnected, and messages published
			// while it did are lost.
			if m.Kind == "subscribe" {
				s.h.Gap("re-subscribed after a dropped connection")
			}
		case *redis.Pong:
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
