package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache/internal/testenv"
)

// TestAPIPostgres runs `flagcache migrate` on a schema of its own (twice:
// it is idempotent), then the whole API walk on the Postgres source.
func TestAPIPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, testenv.PostgresDSN())
	if err != nil {
		testenv.Unreachable(t, "postgres", err)
	}
	schema := testenv.UniqueName("fc_e2e_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	env := map[string]string{
		"FLAGCACHE_SOURCE_KIND":     "postgres",
		"FLAGCACHE_POSTGRES_DSN":    testenv.PostgresDSN(),
		"FLAGCACHE_POSTGRES_SCHEMA": schema,
	}
	for range 2 {
		code, stdout, stderr := runCLI(t, env, "migrate")
		if code != 0 || !strings.Contains(stdout, schema+" is up to date") {
			t.Fatalf("migrate: got %d %q %q, want 0 and up to date", code, stdout, stderr)
		}
	}
	d := startServe(t, env)
	testAPI(t, d)
}

// TestAPIRedis runs the API walk on the Redis source, under a key prefix
// of its own.
func TestAPIRedis(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		testenv.Unreachable(t, "redis", err)
	}
	prefix := testenv.UniqueName("fce2e")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Unlink(ctx, iter.Val())
		}
		client.Close()
	})
	d := startServe(t, map[string]string{
		"FLAGCACHE_SOURCE_KIND":  "redis",
		"FLAGCACHE_REDIS_ADDRS":  testenv.RedisAddr(),
		"FLAGCACHE_REDIS_PREFIX": prefix,
	})
	testAPI(t, d)
}
