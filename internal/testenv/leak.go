package testenv

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyNoLeaks runs a package's tests and fails them if any goroutine is
// still running after them: every goroutine the package starts ends with
// Close (or its context).
//
// One goroutine is allowed: go-redis starts (*ConnPool).tryDial after a
// pool's dials fail, and it sleeps a second between probes before it sees
// the pool closed, which can outlast goleak's retries on a loaded machine.
// It belongs to go-redis, ends on its own, and holds nothing of ours.
func VerifyNoLeaks(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
