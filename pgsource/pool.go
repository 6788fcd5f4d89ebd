package pgsource

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Connection settings ConfigurePool gives a pool whose config leaves them
// unset.
const (
	// DefaultConnectTimeout bounds a dial and the start-up exchange. pgx
	// has none, and a pool's dial is not bounded by the caller's context:
	// a dial into a black hole would hold a pool slot for good.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultPingTimeout bounds the liveness check of a connection taken
	// from the pool after it sat idle longer than pingAfterIdle.
	DefaultPingTimeout = time.Second
)

const (
	// pingAfterIdle: a connection idle longer is pinged before use.
	// pgxpool's own default (1s) lets a connection that went half-open
	// while idle for less take a call and hang it until its deadline.
	pingAfterIdle = 100 * time.Millisecond
	// suspectAfter: a ping unanswered for this long condemns the idle
	// connections even when its caller gave up before the ping timeout.
	suspectAfter = 50 * time.Millisecond
	// TCP keepalive and, on Linux, TCP_USER_TIMEOUT: a peer that stops
	// acknowledging (a partition, a dropped conntrack entry) ends the
	// connection in about 20 s idle, 10 s with data unacknowledged.
	keepAliveIdle     = 5 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	userTimeout       = 10 * time.Second
)

// ConfigurePool makes cfg's connections give up on a network that went
// half-open (no byte flows and no reset arrives) instead of hanging the
// calls that use them. Open applies it; apply it to a config you build a
// pool from for New. Where cfg leaves them unset, it sets a connect
// timeout (DefaultConnectTimeout) and pgxpool's PingTimeout
// (DefaultPingTimeout). It always sets
// cfg.ConnConfig.DialFunc (TCP keepalive every 5 s, and on Linux a
// TCP_USER_TIMEOUT of 10 s; the cleanup of a connection pgx gave up on
// bounded, see cleanupBound) and replaces cfg.ShouldPing and
// cfg.PrepareConn: a connection idle for more than 100 ms is pinged
// before use, and once a ping fails every connection that sat idle
// across that moment is dropped unpinged, since the network that lost
// one most likely lost them all. So after a black hole heals, a call
// loses at most one ping timeout to the connections it left behind,
// whatever the pool's size. Pools built from copies of cfg share that
// judgement (they reach one server over one network).
func ConfigurePool(cfg *pgxpool.Config) {
	cc := cfg.ConnConfig
	if cc.ConnectTimeout <= 0 {
		cc.ConnectTimeout = DefaultConnectTimeout
	}
	d := &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control:         setUserTimeout,
	}
	cc.DialFunc = dialBounded(d.DialContext)
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	g := &liveness{timeout: cfg.PingTimeout}
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false } // prepare pings
	cfg.PrepareConn = g.prepare
	cfg.AfterRelease = chainRelease(cfg.AfterRelease)
}

// releasedKey is the CustomData key of the time a connection was last
// returned to the pool.
const releasedKey = "flagcache.released"

// chainRelease records the release time, then runs the config's own hook.
func chainRelease(next func(*pgx.Conn) bool) func(*pgx.Conn) bool {
	return func(c *pgx.Conn) bool {
		c.PgConn().CustomData()[releasedKey] = time.Now()
		return next == nil || next(c)
	}
}

// liveness checks pooled connections before use.
type liveness struct {
	timeout time.Duration
	// suspect: a ping started at this time (unix ns) failed; connections
	// released before it are dropped.
	suspect atomic.Int64
}

func (g *liveness) prepare(ctx context.Context, c *pgx.Conn) (bool, error) {
	released, ok := c.PgConn().CustomData()[releasedKey].(time.Time)
	if !ok {
		return true, nil // new
	}
	if released.UnixNano() < g.suspect.Load() {
		return false, nil // idle across a failed ping
	}
	start := time.Now()
	if start.Sub(released) < pingAfterIdle {
		return true, nil
	}
	pctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	if err := c.Ping(pctx); err != nil {
		// A ping the caller gave up on counts too once it waited
		// suspectAfter: a live server answers a ping in far less, and a
		// caller with a short deadline (a probe) must not spend it on
		// each dead connection in turn.
		if ctx.Err() != nil && time.Since(start) < suspectAfter {
			return false, ctx.Err()
		}
		g.markSuspect(start)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, nil
	}
	return true, nil
}

// markSuspect records that a ping begun at start failed.
func (g *liveness) markSuspect(start time.Time) {
	for {
		cur := g.suspect.Load()
		if start.UnixNano() <= cur || g.suspect.CompareAndSwap(cur, start.UnixNano()) {
			return
		}
	}
}
