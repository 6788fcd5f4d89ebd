package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/linearize"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
)

// The source's Postgres backends are terminated (pg_terminate_backend,
// only the connections this test opened, found by their application_name)
// again and again under CAS load. Writes in flight fail with an unknown
// outcome; none may be lost or applied twice, and the history stays
// linearizable.
func TestPostgresBackendsTerminated(t *testing.T) {
	_, schema := pgtest.NewStore(t, pgsource.Options{}) // a migrated schema of our own
	app := testenv.UniqueName("flagcache-reliability-")
	dsn, err := withApplicationName(testenv.PostgresDSN(), app)
	if err != nil {
		t.Fatal(err)
	}
	src, err := pgsource.Open(bg(t), dsn, pgsource.Options{Schema: schema, MaxConns: pgPoolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	admin, err := pgx.Connect(bg(t), testenv.PostgresDSN())
	if err != nil {
		testenv.Unreachable(t, "postgres", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })

	r := newRig(t, src, rigConfig{})
	rounds, every := scaled(15, 100), scaled(150*time.Millisecond, 200*time.Millisecond)
	l := startLoad(t, r, loadConfig{clients: 8})
	terminated := 0
	for range rounds {
		time.Sleep(every) // CAS load between two terminations
		var n int
		err := admin.QueryRow(bg(t), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
		if err != nil {
			t.Fatalf("pg_terminate_backend: %v", err)
		}
		terminated += n
	}
	res := l.stop()
	figs := res.check(t, r)
	conv := r.converge(5 * time.Second)
	failed := 0
	for _, s := range res.reads {
		if s.err != nil {
			failed++
		}
	}
	figure(t, "postgres-backends-terminated", append(append([]any{"injected", fmt.Sprintf("pg_terminate_backend every %v, %d rounds", every, rounds),
		"backends_terminated", terminated, "source_reads_failed", res.srcFailed}, figs...),
		append([]any{"converged_in", conv}, statsFigures(r.stats())...)...)...)
	for _, e := range res.errSample[:min(4, len(res.errSample))] {
		t.Logf("an unknown outcome: %s", e)
	}
	if terminated == 0 {
		t.Error("no backend was terminated")
	}
	if res.casOK == 0 {
		t.Error("no CAS succeeded")
	}
}

// withApplicationName sets application_name in a URL or key=value DSN.
func withApplicationName(dsn, app string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " application_name=" + app, nil
}

// A private Postgres is stopped for a while under load: reads of cached
// flags keep being served, marked stale; writes fail fast with
// ErrUnavailable; after the restart writes succeed again within a bound.
func TestPostgresStopped(t *testing.T) {
	pg := pgtest.StartPrivate(t)
	src, err := pgsource.Open(bg(t), pg.DSN, pgsource.Options{Schema: "flagcache", MaxConns: pgPoolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	if err := src.Migrate(bg(t)); err != nil {
		t.Fatal(err)
	}
	opts := suiteOptions()
	opts.LRUTTL = time.Second // entries expire during the outage: Redis and expired copies serve
	r := newRig(t, src, rigConfig{opts: opts})
	probe := flagDef(t, "probe", false) // written to measure recovery, apart from the checked flags
	if _, err := src.Create(bg(t), probe); err != nil {
		t.Fatal(err)
	}
	warm(t, r)
	outage := scaled(3*time.Second, 30*time.Second)
	l := startLoad(t, r, loadConfig{clients: 8, readers: 4, pace: time.Millisecond})
	time.Sleep(500 * time.Millisecond) // a baseline
	stopping := l.since()
	pg.Stop()
	from := l.since()
	time.Sleep(outage)
	to := l.since()
	inRedis := r.redisVersions() // frozen while the source is down
	pg.Start()
	restarted := l.since()
	recovered := waitFor(t, "a write through every sidecar to succeed", 30*time.Second, func() bool {
		for _, n := range r.nodes {
			if _, err := n.Update(bg(t), probe, 0); err != nil {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond) // after
	res := l.stop()
	figs := res.check(t, r)
	conv := r.converge(5 * time.Second)

	// Reads during the outage: served, marked stale, except where no
	// cache held the version a sidecar knew to exist (a conflict or an
	// invalidation had announced it, and the source could not be asked).
	p50, p99, maxi, n, failed := res.latencies(from, to)
	_, _, _, _, failedStopping := res.latencies(stopping, from)
	stale, behind := 0, map[flagcache.ID]bool{}
	for _, s := range res.reads {
		if s.at < from || s.at >= to {
			continue
		}
		if s.err == nil && s.stale {
			stale++
		}
		if s.err == nil {
			continue
		}
		cur, err := r.source.Get(bg(t), s.id)
		switch {
		case err != nil:
			t.Fatal(err)
		case !errors.Is(s.err, flagcache.ErrUnavailable):
			t.Errorf("read of %s at %v during the outage: %v, want ErrUnavailable", s.id, s.at.Round(time.Millisecond), s.err)
		case inRedis[s.id] >= cur.Version:
			t.Errorf("read of %s at %v during the outage failed (%v) although Redis held v%d, the current version", s.id, s.at.Round(time.Millisecond), s.err, inRedis[s.id])
		default:
			behind[s.id] = true
		}
	}
	// The first write acknowledged after the restart.
	firstOK := time.Duration(-1)
	for _, op := range res.history {
		if in, out := op.Input.(linearize.Input), op.Output.(linearize.Output); in.Kind == linearize.CAS && out.Outcome == linearize.OK && time.Duration(op.Call) >= restarted {
			if d := time.Duration(op.Return) - restarted; firstOK < 0 || d < firstOK {
				firstOK = d
			}
		}
	}
	w50, w99, wmax, wn := res.failedWrites(from, to)
	figure(t, "postgres-stopped", append(append([]any{"injected", "pg_ctl stop -m fast for " + outage.String(),
		"reads_during", n, "failed_during", failed, "ids_behind_every_cache", len(behind), "failed_while_stopping", failedStopping, "stale_marked", stale, "served_unmarked", n - failed - stale, "read_p50", p50, "read_p99", p99, "read_max", maxi,
		"writes_failed_during", wn, "write_fail_p50", w50, "write_fail_p99", w99, "write_fail_max", wmax,
		"first_write_ok_after_restart", firstOK, "every_sidecar_writes_in", recovered}, figs...),
		append([]any{"converged_in", conv}, statsFigures(r.stats())...)...)...)
	if stale == 0 {
		t.Errorf("no read during the outage was marked stale")
	}
	// Fail fast: no write waits for its 5s timeout, and p99 stays well
	// under a second even with CI's parallel packages on two cores.
	if w99 > time.Second || wmax >= 5*time.Second {
		t.Errorf("failed writes: p99 %v, max %v; want p99 < 1s and max < the 5s op timeout", w99, wmax)
	}
	if wn == 0 {
		t.Errorf("no write failed during the outage")
	}
}
