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

// postgresEnv returns the environment of a daemon on a Postgres schema of
// its own, migrated by `flagcache migrate` (run twice: it is idempotent).
// The schema is dropped when the test ends.
func postgresEnv(t *testing.T) map[string]string {
	t.Helper()
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
	return env
}

// redisEnv adds to env the settings of a Redis under a key prefix and
// invalidation channel of the test's own; its keys are removed at the end.
func redisEnv(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
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
	if env == nil {
		env = map[string]string{}
	}
	env["FLAGCACHE_REDIS_ADDRS"] = testenv.RedisAddr()
	env["FLAGCACHE_REDIS_PREFIX"] = prefix
	env["FLAGCACHE_REDIS_INVALIDATION_CHANNEL"] = prefix + ":invalidations"
	return env
}

// TestAPIPostgres walks the API on the Postgres source with the Redis
// cache tier: the full sidecar configuration.
func TestAPIPostgres(t *testing.T) {
	d := startServe(t, redisEnv(t, postgresEnv(t)))
	testAPI(t, d)
	r := d.do(t, "GET", "/readyz", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"redis":"up"`) || !strings.Contains(string(r.body), `"source":"up"`) {
		t.Fatalf("readyz: got %d %s, want source and redis up", r.status, r.body)
	}
}

// TestAPIRedis walks the API on the Redis source.
func TestAPIRedis(t *testing.T) {
	env := redisEnv(t, nil)
	env["FLAGCACHE_SOURCE_KIND"] = "redis"
	testAPI(t, startServe(t, env))
}

// TestAPIBareSource walks the API with the cache tiers off.
func TestAPIBareSource(t *testing.T) {
	d := startServe(t, map[string]string{"FLAGCACHE_CACHE_LRU_SIZE": "0"})
	testAPI(t, d)
	if tier := d.do(t, "GET", "/v1/flags/new-checkout", "").header.Get("X-Flagcache-Tier"); tier != "source" {
		t.Fatalf("got tier %q, want source", tier)
	}
}

// TestTwoSidecars: two daemons share one Postgres and one Redis; a write
// through one is seen by the other at once (invalidation), and reads are
// then served from its LRU.
func TestTwoSidecars(t *testing.T) {
	env := redisEnv(t, postgresEnv(t))
	a, b := startServe(t, env), startServe(t, env)
	want(t, a.do(t, "POST", "/v1/flags", `{"id":"shared","name":"Shared","kind":"boolean","default_value":false}`), 201, "")
	want(t, b.do(t, "GET", "/v1/flags/shared", ""), 200, "")
	if tier := b.do(t, "GET", "/v1/flags/shared", "").header.Get("X-Flagcache-Tier"); tier != "lru" {
		t.Fatalf("second read on b: got tier %q, want lru", tier)
	}
	want(t, a.do(t, "PUT", "/v1/flags/shared", `{"name":"Shared","kind":"boolean","default_value":true}`, `If-Match: "v1"`), 200, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := b.do(t, "GET", "/v1/flags/shared", "")
		if mustStored(t, r).Version == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b still serves version 1 (tier %s) 5s after the write on a", r.header.Get("X-Flagcache-Tier"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	want(t, a.do(t, "DELETE", "/v1/flags/shared", ""), 204, "")
	for deadline = time.Now().Add(5 * time.Second); b.do(t, "GET", "/v1/flags/shared", "").status != 404; {
		if time.Now().After(deadline) {
			t.Fatal("b still serves the flag 5s after its delete on a")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
