package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/tcpopt"
)

// writeDeadlineSlack is how much later than asked a connection's write
// deadline may fall (at most an eighth of the time left until it).
const writeDeadlineSlack = time.Second

// acceptUserTimeout bounds how long a peer may leave data unacknowledged
// before its connection ends (TCP_USER_TIMEOUT): a watch client that
// vanished without a FIN or a reset is noticed at its next heartbeat plus
// this, as a client that stops reading is (httpapi's WatchWriteTimeout),
// and gives its stream's slot back.
const acceptUserTimeout = httpapi.DefaultWatchWriteTimeout

// deadlineListener hands out connections whose write deadlines are
// coalesced (writeDeadlineConn) and that end when their peer leaves data
// unacknowledged for acceptUserTimeout.
type deadlineListener struct{ net.Listener }

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			tcpopt.SetUserTimeout(rc, acceptUserTimeout) // best effort: keepalive still ends a silent peer
		}
		return &writeDeadlineConn{TCPConn: tc}, nil
	}
	return c, err
}

// writeDeadlineConn is a TCP connection that does not rearm its write
// deadline for every request. With server.write_timeout net/http sets the
// deadline to now + timeout after reading each request and clears it after
// each response: two runtime timer updates per request (≈ 1 % of the
// daemon's CPU on an LRU hit, docs/benchmarks.md session 6). Here a
// deadline asked for is met by the one the connection has when that falls
// at or after it and at most writeDeadlineSlack (or an eighth of the time
// left) later; otherwise the connection gets the asked one plus that
// slack. Clearing is lazy: a cleared deadline is taken off before the next
// write, so no write runs under a deadline it was not given. A deadline
// not in the future is set as asked, at once (aborting a blocked write).
type writeDeadlineConn struct {
	*net.TCPConn
	mu      sync.Mutex
	want    time.Time    // the deadline asked for; zero: none
	set     time.Time    // the deadline the connection has
	stale   atomic.Bool  // want is zero and set is not: clear before a write
	writing atomic.Int32 // writes in flight: a clearing reaches them at once
}

func (c *writeDeadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = t
	if t.IsZero() {
		if c.set.IsZero() {
			return nil
		}
		c.stale.Store(true)
		if c.writing.Load() > 0 {
			return c.clearLocked()
		}
		return nil
	}
	c.stale.Store(false)
	left := time.Until(t) // t has a monotonic reading: one clock read, not time.Now's two
	if left <= 0 {
		return c.setLocked(t)
	}
	slack := min(writeDeadlineSlack, left/8)
	if !c.set.IsZero() && !c.set.Before(t) && c.set.Sub(t) <= slack {
		return nil
	}
	return c.setLocked(t.Add(slack))
}

func (c *writeDeadlineConn) setLocked(t time.Time) error {
	err := c.TCPConn.SetWriteDeadline(t)
	if err == nil {
		c.set = t
	}
	return err
}

func (c *writeDeadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.TCPConn.SetDeadline(t)
	if err == nil {
		c.want, c.set = t, t
		c.stale.Store(false)
	}
	return err
}

// clearLocked takes off a deadline that was cleared lazily.
func (c *writeDeadlineConn) clearLocked() error {
	if !c.want.IsZero() || c.set.IsZero() {
		c.stale.Store(false)
		return nil
	}
	err := c.TCPConn.SetWriteDeadline(time.Time{})
	if err == nil {
		c.set = time.Time{}
		c.stale.Store(false)
	}
	return err
}

// startWrite counts a write in flight and takes off a deadline cleared
// lazily; call the end of the write done.
func (c *writeDeadlineConn) startWrite() {
	c.writing.Add(1)
	if c.stale.Load() {
		c.mu.Lock()
		c.clearLocked()
		c.mu.Unlock()
	}
}

func (c *writeDeadlineConn) done() { c.writing.Add(-1) }

func (c *writeDeadlineConn) Write(b []byte) (int, error) {
	c.startWrite()
	defer c.done()
	return c.TCPConn.Write(b)
}

func (c *writeDeadlineConn) ReadFrom(r io.Reader) (int64, error) {
	c.startWrite()
	defer c.done()
	return c.TCPConn.ReadFrom(r)
}
