package pgsource_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
)

// TestUnreachableServer points a store at a port nobody listens on: every
// call answers ErrUnavailable. It needs no server.
func TestUnreachableServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := pgsource.Open(context.Background(), "postgres://postgres@"+addr+"/test?sslmode=disable&connect_timeout=2", pgsource.Options{})
	if err != nil {
		t.Fatalf("Open must not dial: got %v", err)
	}
	defer s.Close()
	checkUnavailable(t, s)
}

// TestClosedStore: after Close every call answers ErrUnavailable.
func TestClosedStore(t *testing.T) {
	s, _ := mustStore(t, pgsource.Options{})
	s.Close()
	checkUnavailable(t, s)
}

func checkUnavailable(t *testing.T, s *pgsource.Store) {
	t.Helper()
	ctx := ctxFor(t)
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Migrate", func() error { return s.Migrate(ctx) }},
		{"Get", func() error { _, err := s.Get(ctx, "a"); return err }},
		{"GetMany", func() error { _, err := s.GetMany(ctx, []flagcache.ID{"a"}); return err }},
		{"List", func() error { _, err := s.List(ctx, flagcache.Query{}); return err }},
		{"Count", func() error { _, err := s.Count(ctx, flagcache.Query{}); return err }},
		{"Exists", func() error { _, err := s.Exists(ctx, "a"); return err }},
		{"ModifiedSince", func() error { _, err := s.ModifiedSince(ctx, time.Time{}); return err }},
		{"Changes", func() error { _, err := s.Changes(ctx, 0, 0); return err }},
		{"Compact", func() error { return s.Compact(ctx, time.Now()) }},
		{"Create", func() error { _, err := s.Create(ctx, mustFlag(t, "a", "A")); return err }},
		{"Update", func() error { _, err := s.Update(ctx, mustFlag(t, "a", "A"), 0); return err }},
		{"Delete", func() error { _, err := s.Delete(ctx, "a", 0); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, flagcache.ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", c.name, err)
		} else if testing.Verbose() {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// TestTerminatedConnection kills the server side of the pool's only
// connection (SQLSTATE 57P01 admin_shutdown): the next call answers
// ErrUnavailable, and the one after it reconnects.
func TestTerminatedConnection(t *testing.T) {
	_, schema := mustStore(t, pgsource.Options{})
	cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctxFor(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := pgsource.New(pool, pgsource.Options{})
	var pid int32
	if err := pool.QueryRow(ctxFor(t), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		testenv.Unreachable(t, "postgres", err)
	}
	var done bool
	if err := mustAdmin(t).QueryRow(ctxFor(t), "SELECT pg_terminate_backend($1, 5000)", pid).Scan(&done); err != nil || !done {
		t.Fatalf("pg_terminate_backend: %v, %v", done, err)
	}
	if _, err := s.Get(ctxFor(t), "a"); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("Get on a terminated connection: got %v, want ErrUnavailable", err)
	} else {
		t.Logf("Get on a terminated connection: %v", err)
	}
	if _, err := s.Get(ctxFor(t), "a"); !errors.Is(err, flagcache.ErrNotFound) {
		t.Errorf("Get after reconnecting: got %v, want ErrNotFound", err)
	}
}

// TestUniqueViolation: a duplicate Create is recognised by SQLSTATE 23505
// and no driver error type leaks out.
func TestUniqueViolation(t *testing.T) {
	s, _ := mustStore(t, pgsource.Options{})
	if _, err := s.Create(ctxFor(t), mustFlag(t, "a", "A")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Create(ctxFor(t), mustFlag(t, "a", "A"))
	if !errors.Is(err, flagcache.ErrAlreadyExists) {
		t.Fatalf("second Create: got %v, want ErrAlreadyExists", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		t.Errorf("second Create leaks %T", pgErr)
	}
	if feed, err := s.Changes(ctxFor(t), 0, 0); err != nil || feed.Revision != 1 {
		t.Errorf("the failed Create must give its revision back: got revision %v, %v; want 1", feed, err)
	}
}

// TestCancelWhileWaiting cancels an Update blocked on a row lock held by
// another transaction: the error matches context.Canceled and nothing is
// written.
func TestCancelWhileWaiting(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	if _, err := s.Create(ctxFor(t), mustFlag(t, "a", "A")); err != nil {
		t.Fatal(err)
	}
	tx, pid := mustHold(t, schema, "SELECT 1 FROM feature_flags WHERE id = 'a' FOR UPDATE")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := s.Update(ctx, mustFlag(t, "a", "changed"), 1)
		result <- err
	}()
	waitFor(t, "Update to wait for the row lock", func() bool { return waitingBehind(t, pid) == 1 })
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Update: got %v, want context.Canceled", err)
	}
	if err := tx.Rollback(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctxFor(t), "a")
	if err != nil || got.Version != 1 || got.Definition.Name != "A" {
		t.Errorf("after the cancelled Update: got %+v, %v; want version 1 unchanged", got, err)
	}
}

// TestDSNParseErrorWithheld: a DSN that does not parse is an error naming
// the setting that quotes none of the DSN (pgx's own message masks a
// password only up to its first "@"). It needs no server.
func TestDSNParseErrorWithheld(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:S3cr%zz@tPart@host/db",
		"postgres://u:S3cr@tPart:x@host:99999/db",
		"postgres://u:S3cr@tPart#w0rd@host/db?sslmode=bogus",
		"host=x password=S3cr@tPart port=abc",
	} {
		s, err := pgsource.Open(context.Background(), dsn, pgsource.Options{})
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) = nil error, want invalid_argument", dsn)
		}
		var inv *flagcache.InvalidError
		if !errors.As(err, &inv) || inv.Field != "dsn" {
			t.Errorf("Open(%q) = %v, want an invalid-argument error naming dsn", dsn, err)
		}
		for _, part := range []string{"tPart", "S3cr", "host"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("Open(%q) = %q: quotes %q of the DSN", dsn, err, part)
			}
		}
	}
}
