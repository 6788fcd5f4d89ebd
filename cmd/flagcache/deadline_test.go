package main

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// deadlinePair returns the server side of a loopback TCP connection
// accepted through deadlineListener, and the client side.
func deadlinePair(t *testing.T) (*writeDeadlineConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := deadlineListener{ln}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); client.Close() })
	wc, ok := c.(*writeDeadlineConn)
	if !ok {
		t.Fatalf("Accept gave a %T", c)
	}
	return wc, client
}

// writeUntilBlocked writes to c from a goroutine until a write fails,
// returning that error on the channel; it returns once a write is in
// flight (the client reads nothing, so a write soon blocks).
func writeUntilBlocked(t *testing.T, c *writeDeadlineConn) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for {
			if _, err := c.Write(buf); err != nil {
				errc <- err
				return
			}
		}
	}()
	for c.writing.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	return errc
}

// TestWriteDeadlineCoalesced: a deadline asked for shortly after another
// is met by the one the connection has (no timer update), which is never
// earlier than asked and at most the slack later.
func TestWriteDeadlineCoalesced(t *testing.T) {
	c, _ := deadlinePair(t)
	first := time.Now().Add(30 * time.Second)
	if err := c.SetWriteDeadline(first); err != nil {
		t.Fatal(err)
	}
	set := c.set
	if set.Before(first) || set.Sub(first) > writeDeadlineSlack {
		t.Fatalf("set %v for %v", set, first)
	}
	c.SetWriteDeadline(time.Time{}) // as net/http after each response
	second := first.Add(time.Millisecond)
	c.SetWriteDeadline(second)
	if !c.set.Equal(set) || c.stale.Load() {
		t.Errorf("a deadline 1 ms later rearmed: set %v, was %v (stale %v)", c.set, set, c.stale.Load())
	}
	third := set.Add(time.Millisecond)
	c.SetWriteDeadline(third)
	if c.set.Before(third) || c.set.Sub(third) > writeDeadlineSlack {
		t.Errorf("a deadline after the one set: set %v for %v", c.set, third)
	}
}

// TestWriteDeadlineCutsABlockedWrite: write_timeout still ends a write to
// a client that does not read.
func TestWriteDeadlineCutsABlockedWrite(t *testing.T) {
	c, _ := deadlinePair(t)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 1<<20)
	var err error
	for err == nil {
		_, err = c.Write(buf)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write: %v, want a deadline exceeded", err)
	}
}

// TestWriteDeadlineInThePastAbortsAWrite: a deadline not in the future is
// set at once (as net/http and http.ResponseController use it to abort).
func TestWriteDeadlineInThePastAbortsAWrite(t *testing.T) {
	c, _ := deadlinePair(t)
	errc := writeUntilBlocked(t, c)
	c.SetWriteDeadline(time.Now())
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write: %v, want a deadline exceeded", err)
	}
}

// TestWriteDeadlineClearedIsGone: a cleared deadline does not cut a later
// write (the lazy clearing happens before it) nor one in flight.
func TestWriteDeadlineClearedIsGone(t *testing.T) {
	c, client := deadlinePair(t)
	c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	c.SetWriteDeadline(time.Time{})
	time.Sleep(50 * time.Millisecond) // past the deadline that was set
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("write after clearing: %v", err)
	}

	c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	errc := writeUntilBlocked(t, c)
	c.SetWriteDeadline(time.Time{})
	time.Sleep(500 * time.Millisecond) // past the deadline that was set
	select {
	case err := <-errc:
		t.Fatalf("the write in flight failed after its deadline was cleared: %v", err)
	default:
	}
	go io.Copy(io.Discard, client) // the write goes on
	time.Sleep(100 * time.Millisecond)
	c.Close()
	if err := <-errc; errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write: %v, want the close's error", err)
	}
}
