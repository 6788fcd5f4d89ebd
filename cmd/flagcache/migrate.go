package main

import (
	"context"
	"fmt"

	"github.com/flagcache/flagcache"
)

// migrate applies the Postgres migrations to postgres.dsn (in
// postgres.schema, which it creates if needed). It is safe to run again
// and from several processes at once.
func (c *cli) migrate(ctx context.Context, args []string) error {
	cfg, err := c.loadConfig("migrate", args)
	if err != nil {
		return err
	}
	if cfg.Postgres.DSN == "" {
		return usageError{"postgres.dsn is not set (FLAGCACHE_POSTGRES_DSN, postgres.dsn or postgres.dsn_file)"}
	}
	s, err := openPostgres(ctx, cfg.Postgres, cfg.Source.ChangeRetention, flagcache.HistoryRetention{})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	schema := cfg.Postgres.Schema
	if schema == "" {
		schema = "the default schema"
	}
	fmt.Fprintf(c.stdout, "flagcache migrate: %s is up to date\n", schema)
	return nil
}
