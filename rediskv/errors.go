package rediskv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
)

// translate maps an error from go-redis to the contract, once, at the
// boundary: a cancelled or expired context stays a context error; a server
// that cannot be reached or cannot serve right now is flagcache.ErrUnavailable
// wrapping the cause; any other reply (WRONGTYPE, a script error) is an
// internal error that carries the message but not the driver's type.
// redis.Nil must be handled by the caller before.
func translate(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case unreachable(err):
		return flagcache.Unavailable(err)
	}
	return fmt.Errorf("rediskv: redis: %s", err.Error())
}

// unreachable reports whether err means "this server cannot answer now":
// a network error, a closed client or exhausted pool, or a server that is
// loading, read-only, failing over, out of memory or busy with a script.
func unreachable(err error) bool {
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, redis.ErrClosed),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrPoolExhausted):
		return true
	}
	return redis.IsLoadingError(err) ||
		redis.IsReadOnlyError(err) ||
		redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) ||
		redis.IsMasterDownError(err) ||
		redis.IsMaxClientsError(err) ||
		redis.IsOOMError(err) ||
		redis.IsNoReplicasError(err) ||
		redis.HasErrorPrefix(err, "BUSY")
}
