// Package pgtest gives tests outside pgsource a migrated, empty
// pgsource.Store in a Postgres schema of its own (dropped when the test
// ends), on the server named by FLAGCACHE_TEST_POSTGRES.
package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
)

// NewStore returns a migrated, empty Store in a fresh schema, and the
// schema's name. It stops the test through testenv.Unreachable when
// Postgres cannot be reached.
func NewStore(tb testing.TB, opts pgsource.Options) (*pgsource.Store, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, testenv.PostgresDSN())
	if err != nil {
		testenv.Unreachable(tb, "postgres", err)
	}
	schema := testenv.UniqueName("fc_")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	opts.Schema = schema
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	s, err := pgsource.Open(ctx, testenv.PostgresDSN(), opts)
	if err != nil {
		tb.Fatalf("pgtest: open: %v", err)
	}
	tb.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("pgtest: migrate: %v", err)
	}
	return s, schema
}
