// Package tcpopt sets the TCP options flagcache relies on to notice a
// peer that went silent.
package tcpopt

import (
	"syscall"
	"time"
)

// TCPUserTimeout is TCP_USER_TIMEOUT of linux/tcp.h (not in package
// syscall).
const TCPUserTimeout = 0x12

// SetUserTimeout makes data that the peer of rc leaves unacknowledged for
// d end the connection with an error, where Linux would otherwise
// retransmit for about 15 minutes (net.ipv4.tcp_retries2).
func SetUserTimeout(rc syscall.RawConn, d time.Duration) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, TCPUserTimeout, int(d.Milliseconds()))
	})
	if err != nil {
		return err
	}
	return serr
}
