package pgsource

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"
)

// cleanupBound bounds how long pgx may spend cleaning up a connection it
// gave up on.
//
// When a call's context ends mid-query, pgconn closes the connection in
// the background: it dials the server to send a cancel request and waits
// for the server to close that connection, then sends Terminate and
// drains the old connection until the server closes it — each step
// bounded by 15 s. On a link a fault left dead neither close ever comes,
// and pgxpool holds the connection's slot until the cleanup is done: four
// calls cut on dead links stalled a pool of four for 15 s, every call of
// the sidecar with them (found by the nemesis: C's applied revision stood
// still for seconds after a black hole healed while its listen heard
// every commit).
//
// Every connection the pool dials is wrapped so that no deadline set on
// it lies further than cleanupBound ahead (pgx sets deadlines only to
// interrupt a call — at once — and for that cleanup), and a cancel
// request's reply is awaited at most cleanupBound. A live server answers
// both in milliseconds.
const cleanupBound = 500 * time.Millisecond

// cancelRequestCode is the protocol's code of a CancelRequest message.
const cancelRequestCode = 80877102

// dialBounded returns dial with its connections wrapped (see
// cleanupBound).
func dialBounded(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &boundedConn{Conn: c}, nil
	}
}

type boundedConn struct {
	net.Conn
	wrote atomic.Bool // the first write was seen
}

func (c *boundedConn) Write(b []byte) (int, error) {
	if !c.wrote.Swap(true) && isCancelRequest(b) {
		c.Conn.SetDeadline(time.Now().Add(cleanupBound))
	}
	return c.Conn.Write(b)
}

func (c *boundedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(bound(t)) }
func (c *boundedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(bound(t)) }
func (c *boundedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(bound(t)) }

// bound returns t, or cleanupBound from now if t is later (zero, no
// deadline, stays).
func bound(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return minTime(t, time.Now().Add(cleanupBound))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// isCancelRequest reports whether b is a CancelRequest message: a length
// (16, or more with the longer keys of protocol 3.2) and the code.
func isCancelRequest(b []byte) bool {
	return len(b) >= 16 && binary.BigEndian.Uint32(b) == uint32(len(b)) && binary.BigEndian.Uint32(b[4:]) == cancelRequestCode
}
