package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is still running
// after them: every goroutine the package starts ends with Close (or its
// context).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
