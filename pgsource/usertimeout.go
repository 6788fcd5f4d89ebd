package pgsource

import (
	"strings"
	"syscall"

	"github.com/flagcache/flagcache/internal/tcpopt"
)

// setUserTimeout is a net.Dialer Control: data left unacknowledged for
// userTimeout ends a TCP connection with an error, where Linux would
// otherwise retransmit for about 15 minutes.
func setUserTimeout(network, _ string, rc syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	return tcpopt.SetUserTimeout(rc, userTimeout)
}
