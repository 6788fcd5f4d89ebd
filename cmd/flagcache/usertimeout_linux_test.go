package main

import (
	"syscall"
	"testing"

	"github.com/flagcache/flagcache/internal/tcpopt"
)

// TestAcceptedConnectionsBoundUnacknowledgedData: a client that vanished
// without a FIN or a reset (a dropped NAT entry, a host gone) leaves its
// watch stream's heartbeats unacknowledged; the connection must end after
// acceptUserTimeout, not after Linux's ~15 minutes of retransmissions,
// so that the stream's slot (server.max_watch_streams, _per_token) is
// given back. Measured in network namespaces: a watch whose client link
// went down was still counted in flagcache_watch_streams 2 minutes later.
func TestAcceptedConnectionsBoundUnacknowledgedData(t *testing.T) {
	c, _ := deadlinePair(t)
	rc, err := c.TCPConn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		got, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpopt.TCPUserTimeout)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if want := int(acceptUserTimeout.Milliseconds()); got != want {
		t.Errorf("TCP_USER_TIMEOUT of an accepted connection = %d ms, want %d", got, want)
	}
}
