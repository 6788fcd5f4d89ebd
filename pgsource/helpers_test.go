package pgsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
)

// mustAdmin returns a connection to the test server outside any test
// schema, skipping (or failing, in CI) when the server is unreachable.
func mustAdmin(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.PostgresDSN())
	if err != nil {
		testenv.Unreachable(tb, "postgres", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// mustSchema returns a fresh schema name, dropped with everything in it
// when the test ends.
func mustSchema(tb testing.TB) string {
	tb.Helper()
	admin := mustAdmin(tb)
	name := testenv.UniqueName("fc_")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// mustOpen opens a Store on schema without migrating it.
func mustOpen(tb testing.TB, schema string, opts pgsource.Options) *pgsource.Store {
	tb.Helper()
	opts.Schema = schema
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	s, err := pgsource.Open(context.Background(), testenv.PostgresDSN(), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// mustStore returns a migrated, empty Store in a schema of its own.
func mustStore(tb testing.TB, opts pgsource.Options) *pgsource.Store {
	tb.Helper()
	s := mustOpen(tb, mustSchema(tb), opts)
	if err := s.Migrate(ctxFor(tb)); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s
}

func ctxFor(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// mustFlag returns a valid boolean definition.
func mustFlag(tb testing.TB, id, name string) *flagcache.Definition {
	tb.Helper()
	d, err := flagcache.NewBoolean(flagcache.ID(id), name, false)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
