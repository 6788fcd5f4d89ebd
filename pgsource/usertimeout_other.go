//go:build !linux

package pgsource

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not known: TCP
// keepalive alone then ends a connection to a peer that went silent.
func setUserTimeout(string, string, syscall.RawConn) error { return nil }
