package rediskv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

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
// a network error, a closed client or exhausted pool, a server that is
// loading, read-only, failing over, out of memory or busy with a script,
// or one that refuses our credentials (WRONGPASS, NOAUTH, NOPERM: a
// configuration problem of the deployment, not of the request).
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
		redis.HasErrorPrefix(err, "BUSY") ||
		redis.HasErrorPrefix(err, "WRONGPASS") ||
		redis.HasErrorPrefix(err, "NOAUTH") ||
		redis.HasErrorPrefix(err, "NOPERM")
}

// SetLogger routes go-redis's internal log lines (pool and sentinel
// notices it prints with the log package) through l at level warn, so
// they are part of the daemon's structured log instead of plain text in
// it. go-redis's logger is process-wide.
func SetLogger(l *slog.Logger) {
	redis.SetLogger(slogAdapter{l})
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if !strings.HasPrefix(msg, "redis: ") {
		msg = "redis: " + msg // sentinel's lines, and any other go-redis does not name
	}
	a.l.WarnContext(ctx, msg)
}
