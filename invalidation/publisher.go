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
}

// NewPublisher returns a Publisher on channel (DefaultChannel if empty).
func NewPublisher(client redis.UniversalClient, channel string) *Publisher {
	if channel == "" {
		channel = DefaultChannel
	}
	return &Publisher{client: client, channel: channel}
}

// Publish sends m. It returns flagcache.ErrUnavailable (wrapping the cause)
// when Redis cannot be reached; the message is then lost, and receivers
// find the gap by the revisions that follow or by their periodic resync.
func (p *Publisher) Publish(ctx context.Context, m Message) error {
	if err := p.client.Publish(ctx, p.channel, m.Encode()).Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return flagcache.Unavailable(err)
	}
	return nil
}
