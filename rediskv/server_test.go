package rediskv_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache/internal/testenv"
)

// server is one Redis a test runs against, under a key prefix of its own.
type server struct {
	client redis.UniversalClient
	prefix string
	mini   *miniredis.Miniredis // nil on the real Redis
}

// forEachServer runs test once on miniredis and once on the real Redis at
// testenv.RedisAddr(), which skips loudly when it is not reachable.
func forEachServer(t *testing.T, test func(t *testing.T, srv *server)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) { test(t, startMiniredis(t)) })
	t.Run("redis", func(t *testing.T) { test(t, connectRedis(t)) })
}

func startMiniredis(t testing.TB) *server {
	t.Helper()
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { client.Close() })
	return &server{client: client, prefix: testenv.UniqueName("test-"), mini: m}
}

// connectRedis connects to the real Redis and picks a fresh prefix whose
// keys are deleted when the test ends.
func connectRedis(t testing.TB) *server {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		testenv.Unreachable(t, "Redis", err)
	}
	srv := &server{client: client, prefix: testenv.UniqueName("rediskv-test-")}
	t.Cleanup(func() {
		deleteKeys(t, client, srv.prefix)
		client.Close()
	})
	return srv
}

// deleteKeys removes the store keys ("{prefix}:…") and cache keys
// ("prefix:…") of one test.
func deleteKeys(t testing.TB, client redis.UniversalClient, prefix string) {
	t.Helper()
	ctx := context.Background()
	for _, pattern := range []string{"{" + prefix + "}:*", prefix + ":*"} {
		keys := keysOf(t, client, pattern)
		// One UNLINK per key: a cluster node refuses keys of several slots.
		_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		if err != nil {
			t.Errorf("cleaning up %s: %v", pattern, err)
		}
	}
}

// keysOf lists the keys matching pattern.
func keysOf(t testing.TB, client redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	iter := client.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN %s: %v", pattern, err)
	}
	return out
}

// commandCounter is a redis.Hook recording the name of every command the
// client sends, pipelined ones included.
type commandCounter struct{ names chan string }

func newCommandCounter() *commandCounter { return &commandCounter{names: make(chan string, 1024)} }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.names <- cmd.Name()
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.names <- cmd.Name()
		}
		return next(ctx, cmds)
	}
}

// drain returns the commands recorded since the last drain.
func (c *commandCounter) drain() []string {
	var out []string
	for {
		select {
		case n := <-c.names:
			out = append(out, n)
		default:
			return out
		}
	}
}
