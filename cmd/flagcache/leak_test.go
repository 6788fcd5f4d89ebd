package main

import (
	"testing"

	"github.com/flagcache/flagcache/internal/testenv"
)

func TestMain(m *testing.M) { verifyNoLeaks(m) }

// verifyNoLeaks runs the tests and fails if any goroutine is still running
// after them: a daemon's context ending must stop everything it started.
func verifyNoLeaks(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}
