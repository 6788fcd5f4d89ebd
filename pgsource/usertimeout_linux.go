package pgsource

import (
	"strings"
	"syscall"
)

// tcpUserTimeout is TCP_USER_TIMEOUT of linux/tcp.h (not in package
// syscall).
const tcpUserTimeout = 0x12

// setUserTimeout is a net.Dialer Control: data left unacknowledged for
// userTimeout ends a TCP connection with an error, where Linux would
// otherwise retransmit for about 15 minutes.
func setUserTimeout(network, _ string, rc syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(userTimeout.Milliseconds()))
	})
	if err != nil {
		return err
	}
	return serr
}
