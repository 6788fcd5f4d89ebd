// Package testenv owns the environment variables that point integration
// tests at real servers:
//
//	FLAGCACHE_TEST_POSTGRES   DSN, default postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	FLAGCACHE_TEST_REDIS      address, default 127.0.0.1:6379
//	FLAGCACHE_REQUIRE_SERVICES=1  a missing service fails the test instead of skipping it (CI sets it)
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Defaults for the service variables.
const (
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedis    = "127.0.0.1:6379"
)

// PostgresDSN returns the Postgres DSN for integration tests.
func PostgresDSN() string { return getenv("FLAGCACHE_TEST_POSTGRES", DefaultPostgres) }

// RedisAddr returns the Redis address for integration tests.
func RedisAddr() string { return getenv("FLAGCACHE_TEST_REDIS", DefaultRedis) }

// RequireServices reports whether a missing service must fail the test.
func RequireServices() bool {
	v := os.Getenv("FLAGCACHE_REQUIRE_SERVICES")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// Unreachable stops the test because service is missing: a loud skip on a
// developer machine, a failure when FLAGCACHE_REQUIRE_SERVICES is set.
func Unreachable(tb testing.TB, service string, err error) {
	tb.Helper()
	msg := "!!! " + service + " is not reachable (" + err.Error() + "): integration test NOT RUN. " +
		"Start it or set the address variable; CI sets FLAGCACHE_REQUIRE_SERVICES=1 to fail here."
	if RequireServices() {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// Dial checks that a TCP address answers within a second.
func Dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// UniqueName returns prefix followed by random hex, usable as a schema
// name, database name or Redis key prefix for one test.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
