package pgsource_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/faultproxy"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
)

// proxiedDSN is the test DSN with its host and port replaced by addr.
func proxiedDSN(t *testing.T, addr string) (dsn, target string) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	target = net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	dsn = testenv.PostgresDSN()
	host, port, _ := net.SplitHostPort(addr)
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		u.Host = addr
		return u.String(), target
	}
	return dsn + " host=" + host + " port=" + port, target // key=value: the last one counts
}

// openProxied opens a Store reaching a fresh schema (holding flag "x")
// through a fault proxy, with all conns of its pool open and idle.
func openProxied(t *testing.T, conns int32, opts pgsource.Options) (*pgsource.Store, *faultproxy.Proxy) {
	t.Helper()
	src, schema := mustStore(t, pgsource.Options{})
	if _, err := src.Create(ctxFor(t), mustFlag(t, "x", "X")); err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, "127.0.0.1:1") // re-targeted below
	dsn, target := proxiedDSN(t, proxy.Addr)
	proxy.SetTarget(target)
	opts.Schema, opts.MaxConns = schema, conns
	s, err := pgsource.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	// Before Close: pgx drains a connection it gave up on until the
	// server closes it, which a dead link never does (15 s).
	t.Cleanup(proxy.Reset)
	// Concurrent reads until the pool holds all its connections.
	deadline := time.Now().Add(10 * time.Second)
	for proxy.Links() < int(conns) {
		if time.Now().After(deadline) {
			t.Fatalf("the pool opened %d connections, want %d", proxy.Links(), conns)
		}
		var wg sync.WaitGroup
		for range 2 * conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Get(ctxFor(t), "x")
			}()
		}
		wg.Wait()
	}
	return s, proxy
}

// A black hole (no byte flows, no reset arrives) leaves the pool's idle
// connections open and silent for good, even after it heals. Calls after
// the heal must not hang on them: the first loses at most one ping
// timeout to them (the others are dropped unpinged), the rest none.
// Before, a connection idle for less than pgxpool's 1 s was used unpinged
// and hung the call until its deadline, and each dead one cost a call.
func TestPoolAbandonsHalfOpenConnections(t *testing.T) {
	const conns = 4
	s, proxy := openProxied(t, conns, pgsource.Options{})
	proxy.Blackhole()
	time.Sleep(300 * time.Millisecond) // the connections sit idle in the black hole
	proxy.Heal()
	// The nemesis's window: a sidecar must serve fresh data within 2 s of
	// a heal, so every source call must fit well inside it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	for i := range conns {
		if _, err := s.Get(ctx, "x"); err != nil {
			t.Fatalf("Get %d after the heal, %v in: %v", i+1, time.Since(start).Round(time.Millisecond), err)
		}
	}
	if took := time.Since(start); took > pgsource.DefaultPingTimeout+500*time.Millisecond {
		t.Errorf("%d Gets after the heal took %v, want ≤ one ping timeout (%v) + 500ms", conns, took.Round(time.Millisecond), pgsource.DefaultPingTimeout)
	}
}

// When the listening connection turns out half-open, the pool's idle
// connections (same network) are dropped at once: the repair a caller
// starts on listening again must not wait out a ping timeout on them.
// Before, the first read after the heal lost DefaultPingTimeout.
func TestHalfOpenListenerDropsIdleConnections(t *testing.T) {
	s, proxy := openProxied(t, 2, pgsource.Options{ListenKeepalive: 200 * time.Millisecond})
	w := watch(t, s)
	w.wantRevision(t, "on listening", 1)
	proxy.Blackhole()
	w.wantError(t, "after the connection went half-open", 5*time.Second)
	proxy.Heal()
	start := time.Now()
	if _, err := s.Get(ctxFor(t), "x"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= pgsource.DefaultPingTimeout/2 {
		t.Errorf("the first Get after the heal took %v, want < %v (no ping of a dead connection)", took.Round(time.Millisecond), pgsource.DefaultPingTimeout/2)
	}
}

// A caller whose deadline is shorter than the ping timeout (a probe, a
// repair's hedge) gives up on the first dead connection's ping; that ping
// still condemns the other connections that sat idle across it, so the
// caller's next try dials anew instead of losing its deadline to the next
// dead one. Before, every dead connection cost a caller its whole deadline.
func TestShortCallerCondemnsIdleConnections(t *testing.T) {
	const conns = 4
	s, proxy := openProxied(t, conns, pgsource.Options{})
	proxy.Blackhole()
	time.Sleep(300 * time.Millisecond) // the connections sit idle in the black hole
	proxy.Heal()
	if err := getWithin(s, 300*time.Millisecond); err == nil {
		t.Log("the first Get after the heal found a live connection") // possible, not expected
	}
	if err := getWithin(s, 300*time.Millisecond); err != nil {
		t.Fatalf("the second Get after the heal: %v (the dead idle connections were pinged again)", err)
	}
}

// Probe connects anew: while the network is a black hole it fails within
// its context; once healed it answers. Suspect (a read was cut while a
// probe answered) resets the pool, so a call with a deadline shorter than
// a ping timeout gets through at once instead of pinging a connection the
// black hole left dead.
func TestProbeAndSuspect(t *testing.T) {
	s, proxy := openProxied(t, 4, pgsource.Options{})
	proxy.Blackhole()
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := s.Probe(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, flagcache.ErrUnavailable) {
		t.Fatalf("Probe in a black hole: %v, want a deadline or unavailable error", err)
	}
	proxy.Heal()
	if err := s.Probe(ctxFor(t)); err != nil {
		t.Fatalf("Probe after the heal: %v", err)
	}
	s.Suspect()
	if err := getWithin(s, 300*time.Millisecond); err != nil {
		t.Fatalf("the first Get after Suspect: %v (a dead idle connection was used)", err)
	}
}

// A call cut while the network is a black hole leaves a connection pgx
// cleans up in the background, and pgxpool holds its slot until that is
// done. On a dead link the cleanup's cancel request and drain never end
// by themselves (pgx bounds each by 15 s): the slot must come back within
// moments of the heal, or a small pool stalls every call. Before, the one
// slot of this pool was held ~15 s and the read after the heal failed.
func TestCutCallFreesItsSlot(t *testing.T) {
	s, proxy := openProxied(t, 1, pgsource.Options{})
	proxy.Blackhole()
	time.Sleep(300 * time.Millisecond) // idle across the fault: pinged, and the ping hangs
	if err := getWithin(s, 200*time.Millisecond); err == nil {
		t.Fatal("Get in a black hole succeeded")
	}
	proxy.Heal()
	if err := getWithin(s, 4*time.Second); err != nil {
		t.Fatalf("Get after the heal: %v (the cut call's slot was not freed)", err)
	}
}

// Writes never take the whole pool: with every write stuck behind a row
// lock another writer holds (as behind a session black-holed
// mid-transaction, or a burst of CAS writes queued on the revision
// counter), reads still get a connection. Before, the blocked writes took
// both connections of this pool and the read waited for one until its
// deadline.
func TestWritesLeaveReadsAConnection(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{MaxConns: 2})
	def := mustFlag(t, "w", "W")
	if _, err := s.Create(ctxFor(t), def); err != nil {
		t.Fatal(err)
	}
	locker := mustConnIn(t, schema)
	tx, err := locker.Begin(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctxFor(t), "SELECT 1 FROM feature_flags WHERE id = 'w' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	writes, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Update(writes, def, 0) // blocks on the row lock until cancelled
		}()
	}
	admin := mustConnIn(t, schema)
	deadline := time.Now().Add(10 * time.Second)
	for blocked := 0; blocked == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no write reached the lock")
		}
		if err := admin.QueryRow(ctxFor(t), "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", locker.PgConn().PID()).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancelRead := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelRead()
	if _, err := s.Get(ctx, "w"); err != nil {
		t.Fatalf("Get while writes wait on a lock: %v (the writes took every connection)", err)
	}
	cancel()
	tx.Rollback(ctxFor(t))
	wg.Wait()
}

// getWithin reads flag "x" with a deadline of d.
func getWithin(s *pgsource.Store, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := s.Get(ctx, "x")
	return err
}
