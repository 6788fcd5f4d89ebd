package main

import (
	"context"
	"errors"
)

// migrate applies the Postgres migrations to postgres.dsn.
func (c *cli) migrate(ctx context.Context, args []string) error {
	cfg, err := c.loadConfig("migrate", args)
	if err != nil {
		return err
	}
	if cfg.Postgres.DSN == "" {
		return usageError{"postgres.dsn is not set (FLAGCACHE_POSTGRES_DSN, postgres.dsn or postgres.dsn_file)"}
	}
	// TODO(pgsource): s, err := pgsource.Open(ctx, string(cfg.Postgres.DSN), pgsource.Options{}); s.Migrate(ctx); s.Close()
	return errors.New("migrate: the Postgres store is not wired into this build yet (pgsource is in progress)")
}
