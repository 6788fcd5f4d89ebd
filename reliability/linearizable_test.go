package reliability_test

import (
	"testing"
	"time"

	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/pgsource"
)

// Two sidecars on one Postgres and one Redis; 8 clients on 16 flags mix
// reads at the source with read-through-a-sidecar-then-CAS. The history is
// linearizable, every acknowledged write is in the final versions, no
// client sees a version go back through one sidecar, and afterwards every
// sidecar serves the source's versions.
func TestLinearizableWrites(t *testing.T) {
	src, _ := pgtest.NewStore(t, pgsource.Options{MaxConns: pgPoolSize})
	r := newRig(t, src, rigConfig{})
	ops := scaled(100, 1000)
	l := startLoad(t, r, loadConfig{clients: 8, ops: ops})
	res := l.wait()
	elapsed := l.since()
	figs := res.check(t, r)
	conv := r.converge(5 * time.Second)
	p50, p99, maxi, _, _ := res.latencies(0, elapsed)
	figure(t, "linearizable", append(append([]any{"clients", 8, "keys", len(r.ids), "duration", elapsed}, figs...),
		"read_p50", p50, "read_p99", p99, "read_max", maxi, "converged_in", conv)...)
	if res.casOK == 0 || res.conflicts == 0 {
		t.Errorf("got %d CAS successes and %d conflicts, want some of each", res.casOK, res.conflicts)
	}
}
