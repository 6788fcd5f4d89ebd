package pgsource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
)

// revisionChannel is the channel migration 003's trigger notifies after
// every statement that writes feature_flags, with the payload
// "<schema> <revision>".
const revisionChannel = "flagcache_revisions"

const (
	listenSQL       = `LISTEN ` + revisionChannel
	listenHeadSQL   = `SELECT current_schema(), revision FROM flagcache_revision`
	currentRevision = `SELECT revision FROM flagcache_revision`
)

// WatchRevisions reports the store's revision as it moves, to let a cache
// in front of the store notice writes it was not told about (another
// sidecar's, or plain SQL on feature_flags) within moments instead of at
// its next periodic resync.
//
// It opens a connection of its own, outside the pool, with the pool's
// settings, and LISTENs on the channel migration 003 notifies after every
// write. Once listening it calls notify with the current revision (so the
// caller can repair whatever it missed before, say, a reconnect), then with
// the revision after each commit; one call may cover several commits, and
// revisions only grow. notify runs on WatchRevisions' goroutine: a slow
// notify delays the next one.
//
// WatchRevisions blocks until ctx is done, returning ctx.Err(), or until
// the listening connection is lost, returning an error (wrapping
// flagcache.ErrUnavailable when the server is unreachable); the caller
// then retries, with backoff. A quiet connection is checked every
// Options.ListenKeepalive with a query that must answer within as long,
// so a connection that went half-open (no bytes flow and no reset
// arrives, as behind a dropped NAT entry) is given up within twice that.
func (s *Store) WatchRevisions(ctx context.Context, notify func(revision int64)) error {
	// A dial into a black hole must not hang: the pool's settings may have
	// no connect_timeout, and one longer than the keepalive's bound would
	// keep a dial made during a black hole from seeing the heal.
	cc := s.pool.Config().ConnConfig.Copy()
	dial := max(3*s.keepalive, time.Second)
	if cc.ConnectTimeout > 0 {
		dial = min(dial, cc.ConnectTimeout)
	}
	connectCtx, cancel := context.WithTimeout(ctx, dial)
	conn, err := pgx.ConnectConfig(connectCtx, cc)
	cancel()
	if err != nil {
		return s.watchError(ctx, err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), s.keepalive)
		defer cancel()
		conn.Close(closeCtx)
	}()
	var (
		schema string
		last   int64
	)
	if err := s.withDeadline(ctx, func(ctx context.Context) error {
		if _, err := conn.Exec(ctx, listenSQL); err != nil {
			return err
		}
		return conn.QueryRow(ctx, listenHeadSQL).Scan(&schema, &last)
	}); err != nil {
		return s.watchError(ctx, err)
	}
	notify(last)
	for {
		waitCtx, cancel := context.WithTimeout(ctx, s.keepalive)
		n, err := conn.WaitForNotification(waitCtx)
		quiet := errors.Is(waitCtx.Err(), context.DeadlineExceeded)
		cancel()
		rev := int64(-1)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			rev = parseRevision(n.Payload, schema)
		case quiet:
			// Nothing for a while: make the server answer, or give up.
			err = s.withDeadline(ctx, func(ctx context.Context) error {
				return conn.QueryRow(ctx, currentRevision).Scan(&rev)
			})
			if err != nil {
				if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
					// Half-open: the pool's idle connections, opened over
					// the same network, are most likely dead too. Drop
					// them now, so the repair the caller starts when it
					// listens again does not wait out a ping on each.
					s.pool.Reset()
				}
				return s.watchError(ctx, err)
			}
		default:
			return s.watchError(ctx, err)
		}
		if rev > last {
			last = rev
			notify(rev)
		}
	}
}

// withDeadline runs f with a context that expires after the keepalive.
func (s *Store) withDeadline(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.keepalive)
	defer cancel()
	return f(ctx)
}

// watchError is the error WatchRevisions returns: ctx.Err() once ctx is
// done, else the cause, translated. A query that outlived the keepalive
// is a lost connection.
func (s *Store) watchError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return flagcache.Unavailable(fmt.Errorf("pgsource: watch revisions: no answer within %v: %w", s.keepalive, err))
	}
	return translate(ctx, "watch revisions", err)
}

// parseRevision returns the revision of a notification payload
// "<schema> <revision>" if it is schema's, else -1.
func parseRevision(payload, schema string) int64 {
	i := strings.LastIndexByte(payload, ' ')
	if i < 0 || payload[:i] != schema {
		return -1
	}
	rev, err := strconv.ParseInt(payload[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return rev
}
