package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// A baseline is a server read at the same concurrency with the same ids,
// returning the same bytes: what the daemon is measured against.
type baseline struct {
	name    string
	pid     int // its process, measured like the daemon's; 0 when it runs in the bench's
	newOp   func(worker int) op
	cleanup func(context.Context) error
}

// httpOp is the read loop's op on an HTTP target: the same for the daemon
// and the static baseline.
func httpOp(h *httpTarget, urls []string) op {
	return func(ctx context.Context, i int) (bool, Tier, error) {
		tier, err := h.get(ctx, urls[i])
		return false, tier, err
	}
}

// staticBaseline starts the static server.
func staticBaseline(ctx context.Context, ds *Dataset, conns int) (*baseline, error) {
	s, err := startStatic(ctx, ds, nil)
	if err != nil {
		return nil, err
	}
	h, _ := newHTTPTarget(s.url(), "", conns)
	urls := h.flagURLs(ds)
	return &baseline{
		name:  "static",
		pid:   s.pid(),
		newOp: func(int) op { return httpOp(h, urls) },
		cleanup: func(ctx context.Context) error {
			h.close()
			return s.close(ctx)
		},
	}, nil
}

// redisBaseline sets every body under keyPrefix in the Redis at addr and
// reads them back with go-redis GETs; cleanup deletes them.
func redisBaseline(ctx context.Context, addr, keyPrefix string, ds *Dataset, conns int) (*baseline, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: conns, DialTimeout: 2 * time.Second})
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	keys := make([]string, ds.Len())
	for i, id := range ds.IDs {
		keys[i] = keyPrefix + string(id)
	}
	del := func(ctx context.Context) error {
		var errs []error
		for start := 0; start < len(keys); start += 1000 {
			errs = append(errs, rdb.Del(ctx, keys[start:min(start+1000, len(keys))]...).Err())
		}
		return errors.Join(append(errs, rdb.Close())...)
	}
	for start := 0; start < len(keys); start += 1000 {
		pipe := rdb.Pipeline()
		for i := start; i < min(start+1000, len(keys)); i++ {
			pipe.Set(ctx, keys[i], ds.Bodies[i], time.Hour) // expires even if cleanup never runs
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, errors.Join(fmt.Errorf("redis at %s: filling: %w", addr, err), del(context.WithoutCancel(ctx)))
		}
	}
	return &baseline{
		name: "redis",
		newOp: func(int) op {
			return func(ctx context.Context, i int) (bool, Tier, error) {
				_, err := rdb.Get(ctx, keys[i]).Bytes()
				return false, TierNone, err
			}
		},
		cleanup: del,
	}, nil
}

// seedSchema is the seed's DDL, unchanged: the table, its indexes and its
// updated_at trigger.
var seedSchema = []string{
	`CREATE TABLE feature_flags (
		id VARCHAR(256) PRIMARY KEY,
		definition JSONB NOT NULL,
		version BIGINT NOT NULL DEFAULT 1,
		created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
		updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
	)`,
	`CREATE INDEX idx_feature_flags_status ON feature_flags ((definition->>'status'))`,
	`CREATE INDEX idx_feature_flags_updated_at ON feature_flags (updated_at)`,
	`CREATE INDEX idx_feature_flags_tags ON feature_flags USING GIN ((definition->'metadata'->'tags'))`,
	`CREATE INDEX idx_feature_flags_owner ON feature_flags ((definition->'metadata'->>'owner'))`,
	`CREATE OR REPLACE FUNCTION update_feature_flags_updated_at()
	RETURNS TRIGGER AS $$
	BEGIN
		NEW.updated_at = NOW();
		RETURN NEW;
	END;
	$$ LANGUAGE plpgsql`,
	`CREATE TRIGGER feature_flags_updated_at
		BEFORE UPDATE ON feature_flags
		FOR EACH ROW
		EXECUTE FUNCTION update_feature_flags_updated_at()`,
}

// seedGet is the seed's read of one flag.
const seedGet = "SELECT definition, version FROM feature_flags WHERE id = $1"

// postgresBaseline creates schema in the database at dsn with the seed's
// DDL, fills it with the flags as the daemon serves them, and reads them
// with the seed's query through a pgx pool of conns connections; cleanup
// drops the schema.
func postgresBaseline(ctx context.Context, dsn, schema string, ds *Dataset, conns int) (*baseline, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres DSN: %w", err)
	}
	cfg.MaxConns = int32(conns)
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	quoted := pgx.Identifier{schema}.Sanitize()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+quoted); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres at %s: %w", cfg.ConnConfig.Host, err)
	}
	drop := func(ctx context.Context) error {
		_, err := pool.Exec(ctx, "DROP SCHEMA "+quoted+" CASCADE")
		pool.Close()
		return err
	}
	fail := func(err error) (*baseline, error) {
		return nil, errors.Join(fmt.Errorf("postgres: %w", err), drop(context.WithoutCancel(ctx)))
	}
	for _, stmt := range seedSchema {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return fail(err)
		}
	}
	rows := make([][]any, ds.Len())
	for i, body := range ds.Bodies {
		var st struct {
			Definition json.RawMessage `json:"definition"`
			Version    int64           `json:"version"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			return fail(fmt.Errorf("the daemon's body of %s: %w", ds.IDs[i], err))
		}
		rows[i] = []any{string(ds.IDs[i]), string(st.Definition), st.Version}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"feature_flags"}, []string{"id", "definition", "version"}, pgx.CopyFromRows(rows)); err != nil {
		return fail(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE feature_flags"); err != nil {
		return fail(err)
	}
	ids := make([]string, ds.Len())
	for i, id := range ds.IDs {
		ids[i] = string(id)
	}
	return &baseline{
		name: "postgres",
		newOp: func(int) op {
			return func(ctx context.Context, i int) (bool, Tier, error) {
				var def []byte
				var version int64
				err := pool.QueryRow(ctx, seedGet, ids[i]).Scan(&def, &version)
				return false, TierNone, err
			}
		},
		cleanup: drop,
	}, nil
}
