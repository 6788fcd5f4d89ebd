package invalidation

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
)

// Publisher publishes invalidations on one channel.
type Publisher struct {
	client  redis.UniversalClient
	channel string
	sharded bool
}

// NewPublisher returns a Publisher on channel (DefaultChannel if empty).
func NewPublisher(client redis.UniversalClient, channel string) *Publisher {
	if channel == "" {
		channel = DefaultChannel
	}
	return &Publisher{client: client, channel: channel}
}

// NewShardedPublisher returns a Publisher using SPUBLISH, for subscribers
// with SubscriberOptions.Sharded.
func NewShardedPublisher(client redis.UniversalClient, channel string) *Publisher {
	p := NewPublisher(client, channel)
	p.sharded = true
	return p
}

// Publish sends m. It returns flagcache.ErrUnavailable (wrapping the cause)
// when Redis cannot be reached; the message is then lost, and receivers
// find the gap by the revisions that follow or by their periodic resync.
func (p *Publisher) Publish(ctx context.Context, m Message) error {
	publish := p.client.Publish
	if p.sharded {
		publish = p.client.SPublish
	}
	if err := publish(ctx, p.channel, m.Encode()).Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return flagcache.Unavailable(err)
	}
	return nil
}
