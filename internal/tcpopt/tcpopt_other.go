//go:build !linux

// Package tcpopt sets the TCP options flagcache relies on to notice a
// peer that went silent.
package tcpopt

import (
	"syscall"
	"time"
)

// SetUserTimeout does nothing where TCP_USER_TIMEOUT is not known: TCP
// keepalive alone then ends a connection to a peer that went silent.
func SetUserTimeout(syscall.RawConn, time.Duration) error { return nil }
