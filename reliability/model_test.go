package reliability_test

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/flagcache/flagcache/internal/linearize"
)

// checkLinearizable checks history with linearize.Check. Porcupine's
// Unknown (the check timed out) fails the test like Illegal does.
func checkLinearizable(t *testing.T, history []porcupine.Operation, timeout time.Duration) (res porcupine.CheckResult, took time.Duration, pruned int) {
	t.Helper()
	r := linearize.Check(history, timeout)
	if r.Check != porcupine.Ok {
		t.Errorf("linearizability check of %d ops: %s after %v", r.Ops, r.Check, r.Took.Round(time.Millisecond))
		if r.Visual != "" {
			t.Logf("visualization of the illegal history: %s", r.Visual)
		} else if r.VisErr != nil {
			t.Logf("visualization not written: %v", r.VisErr)
		}
	}
	return r.Check, r.Took, r.Pruned
}
