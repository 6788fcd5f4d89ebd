package pgsource_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/faultproxy"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
)

// watcher runs WatchRevisions in the background and hands what it
// reports to channels.
type watcher struct {
	revs   chan int64
	err    chan error
	cancel context.CancelFunc
}

func watch(t *testing.T, s *pgsource.Store) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{revs: make(chan int64, 64), err: make(chan error, 1), cancel: cancel}
	go func() { w.err <- s.WatchRevisions(ctx, func(rev int64) { w.revs <- rev }) }()
	t.Cleanup(func() {
		cancel()
		<-w.err // the error, or ctx.Err(): what the test wanted of it, it checked
		w.err <- nil
	})
	return w
}

// wantRevision waits for the next revision reported and checks it.
func (w *watcher) wantRevision(t *testing.T, what string, want int64) {
	t.Helper()
	select {
	case got := <-w.revs:
		if got != want {
			t.Fatalf("%s: notified revision %d, want %d", what, got, want)
		}
	case err := <-w.err:
		w.err <- err
		t.Fatalf("%s: WatchRevisions returned %v, want revision %d", what, err, want)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no revision notified in 10s, want %d", what, want)
	}
}

// wantError waits for WatchRevisions to return and returns its error.
func (w *watcher) wantError(t *testing.T, what string, within time.Duration) error {
	t.Helper()
	select {
	case err := <-w.err:
		w.err <- err
		if err == nil {
			t.Fatalf("%s: WatchRevisions returned nil", what)
		}
		return err
	case <-time.After(within):
		t.Fatalf("%s: WatchRevisions still running after %v", what, within)
	}
	return nil
}

func revisionOf(t *testing.T, conn *pgx.Conn) int64 {
	t.Helper()
	var rev int64
	if err := conn.QueryRow(ctxFor(t), `SELECT revision FROM flagcache_revision`).Scan(&rev); err != nil {
		t.Fatal(err)
	}
	return rev
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(ctxFor(t), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

const insertRawSQL = `INSERT INTO feature_flags (id, definition) VALUES ($1::text,
	jsonb_build_object('id', $1::text, 'name', $1::text, 'kind', 'boolean', 'default_value', false, 'status', 'active'))`

// Every write to feature_flags — through the Store or as plain SQL,
// insert, update or delete, one row or many — is notified with the
// revision after it, and only to listeners of its own schema. Before
// migration 003 nothing was notified (and WatchRevisions did not exist).
func TestWatchRevisionsSeesEveryWrite(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	conn := mustConnIn(t, schema)
	if _, err := s.Create(ctxFor(t), mustFlag(t, "a", "A")); err != nil {
		t.Fatal(err)
	}
	w := watch(t, s)
	w.wantRevision(t, "on listening", 1)

	if _, err := s.Update(ctxFor(t), mustFlag(t, "a", "A2"), 1); err != nil {
		t.Fatal(err)
	}
	w.wantRevision(t, "Store.Update", 2)
	mustExec(t, conn, `UPDATE feature_flags SET definition = definition || '{"description":"sql"}' WHERE id = 'a'`)
	w.wantRevision(t, "SQL UPDATE", 3)
	mustExec(t, conn, insertRawSQL, "b")
	w.wantRevision(t, "SQL INSERT", 4)
	mustExec(t, conn, `DELETE FROM feature_flags WHERE id = 'b'`)
	w.wantRevision(t, "SQL DELETE", 5)
	mustExec(t, conn, `INSERT INTO feature_flags (id, definition)
		SELECT 'bulk-' || i, jsonb_build_object('id', 'bulk-' || i, 'name', 'bulk', 'kind', 'boolean', 'default_value', false)
		FROM generate_series(1, 3) i`)
	w.wantRevision(t, "SQL INSERT of 3 rows", 8)

	// Another schema's writes (same database, same channel) are not ours:
	// it climbs to revision 10 while ours stays at 8.
	other, _ := mustStore(t, pgsource.Options{})
	for i := range 10 {
		if _, err := other.Create(ctxFor(t), mustFlag(t, "o"+strconv.Itoa(i), "O")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctxFor(t), "a", 0); err != nil {
		t.Fatal(err)
	}
	w.wantRevision(t, "Store.Delete after another schema's 10 writes", 9)
	if got := revisionOf(t, conn); got != 9 {
		t.Fatalf("revision %d, want 9", got)
	}
}

// Cancelling the context ends WatchRevisions with ctx.Err().
func TestWatchRevisionsCancel(t *testing.T) {
	s, _ := mustStore(t, pgsource.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	started := make(chan int64, 1)
	go func() { errc <- s.WatchRevisions(ctx, func(rev int64) { started <- rev }) }()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("WatchRevisions: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening after 10s")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WatchRevisions still running 10s after cancel")
	}
}

// A terminated listening backend ends WatchRevisions with an error; a
// write made while nobody listened is reported by the next call's first
// notification (the gap repair).
func TestWatchRevisionsBackendTerminated(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	conn := mustConnIn(t, schema)
	app := testenv.UniqueName("watch_")
	cfg := mustPoolConfig(t, schema)
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	watched := newStoreOn(t, cfg, pgsource.Options{})

	w := watch(t, watched)
	w.wantRevision(t, "on listening", 0)
	admin := mustAdmin(t)
	var n int
	if err := admin.QueryRow(ctxFor(t), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no backend of the listener found to terminate")
	}
	if err := w.wantError(t, "after pg_terminate_backend", 10*time.Second); errors.Is(err, context.Canceled) {
		t.Fatalf("returned %v, want a connection error", err)
	}
	if _, err := s.Create(ctxFor(t), mustFlag(t, "missed", "M")); err != nil {
		t.Fatal(err)
	}
	mustExec(t, conn, insertRawSQL, "missed-sql")
	again := watch(t, watched)
	again.wantRevision(t, "re-listening after the gap", 2)
}

// A listening connection that goes half-open (no byte flows, no reset
// arrives) is given up within twice the keepalive; listening again once
// the network heals reports the current revision.
func TestWatchRevisionsHalfOpen(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	cfg := mustPoolConfig(t, schema)
	proxy := faultproxy.Start(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, _ := net.SplitHostPort(proxy.Addr)
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	// The keepalive must be answered within itself, also before the fault:
	// 200 ms failed on a loaded CI machine (load 27), so the default 1 s.
	watched := newStoreOn(t, cfg, pgsource.Options{ListenKeepalive: time.Second})

	w := watch(t, watched)
	w.wantRevision(t, "on listening", 0)
	proxy.Blackhole()
	if _, err := s.Create(ctxFor(t), mustFlag(t, "lost", "L")); err != nil {
		t.Fatal(err)
	}
	err := w.wantError(t, "after the connection went half-open", 5*time.Second)
	if !errors.Is(err, flagcache.ErrUnavailable) {
		t.Fatalf("returned %v, want ErrUnavailable", err)
	}
	proxy.Heal()
	again := watch(t, watched)
	again.wantRevision(t, "re-listening after the network healed", 1)
}

// TRUNCATE would drop every flag without a revision or a tombstone, so a
// re-created flag would restart at version 1 behind every cache's higher
// version: migration 003 refuses it on the three tables of the books.
func TestTruncateRefused(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	conn := mustConnIn(t, schema)
	if _, err := s.Create(ctxFor(t), mustFlag(t, "a", "A")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctxFor(t), "a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctxFor(t), mustFlag(t, "a", "A")); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"feature_flags", "flagcache_tombstones", "flagcache_revision", "feature_flags, flagcache_tombstones", "feature_flags CASCADE"} {
		_, err := conn.Exec(ctxFor(t), "TRUNCATE "+table)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "0A000" {
			t.Errorf("TRUNCATE %s: %v, want SQLSTATE 0A000 (feature_not_supported)", table, err)
		}
	}
	got, err := s.Get(ctxFor(t), "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 3 || got.Revision != 3 {
		t.Fatalf("after the refused TRUNCATEs: version %d revision %d, want 3 and 3", got.Version, got.Revision)
	}
	if _, err := s.Delete(ctxFor(t), "a", 0); err != nil {
		t.Fatal(err)
	}
	again, err := s.Create(ctxFor(t), mustFlag(t, "a", "A"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != 5 {
		t.Fatalf("re-created after delete: version %d, want 5", again.Version)
	}
}

func mustPoolConfig(t *testing.T, schema string) *pgxpool.Config {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	cfg.MaxConns = 2
	return cfg
}

func newStoreOn(t *testing.T, cfg *pgxpool.Config, opts pgsource.Options) *pgsource.Store {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(fmt.Errorf("pool: %w", err))
	}
	t.Cleanup(pool.Close)
	return pgsource.New(pool, opts)
}
