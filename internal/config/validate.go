package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/flagcache/flagcache"
)

var validSchema = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Validate checks every setting and returns all the problems, each naming
// its setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", setting, fmt.Sprintf(format, args...)))
	}
	oneOf := func(setting, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			bad(setting, "%q is not one of %v", v, allowed)
		}
	}
	positive := func(setting string, d time.Duration) {
		if d <= 0 {
			bad(setting, "must be positive, got %s", d)
		}
	}
	notNegative := func(setting string, d time.Duration) {
		if d < 0 {
			bad(setting, "must not be negative, got %s", d)
		}
	}

	if _, port, err := net.SplitHostPort(c.Server.Listen); err != nil {
		bad("server.listen", "%q is not host:port", c.Server.Listen)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("server.listen", "%q has no valid port number", c.Server.Listen)
	}
	if c.Server.MaxBodyBytes <= 0 {
		bad("server.max_body_bytes", "must be positive, got %d", c.Server.MaxBodyBytes)
	}
	positive("server.read_header_timeout", c.Server.ReadHeaderTimeout)
	notNegative("server.read_timeout", c.Server.ReadTimeout)
	notNegative("server.write_timeout", c.Server.WriteTimeout)
	notNegative("server.idle_timeout", c.Server.IdleTimeout)
	positive("server.shutdown_timeout", c.Server.ShutdownTimeout)
	positive("server.watch_poll", c.Server.WatchPoll)
	positive("server.watch_heartbeat", c.Server.WatchHeartbeat)
	if c.Server.MaxWatchStreams < 1 {
		bad("server.max_watch_streams", "must be at least 1, got %d", c.Server.MaxWatchStreams)
	}
	if c.Server.MaxWatchStreamsPerToken < 1 {
		bad("server.max_watch_streams_per_token", "must be at least 1, got %d", c.Server.MaxWatchStreamsPerToken)
	}

	names := map[string]bool{}
	for i, t := range c.Auth.Tokens {
		name := fmt.Sprintf("auth.tokens[%d]", i)
		oneOf(name+".scope", t.Scope, "read", "write")
		if t.Name != "" {
			if err := flagcache.ValidateActor(t.Name); err != nil {
				bad(name+".name", "%v", err)
			}
			if names[t.Name] {
				bad(name+".name", "%q is the name of another token", t.Name)
			}
			names[t.Name] = true
		}
		if (t.Value == "") == (t.File == "") {
			bad(name, "give exactly one of value and file")
		}
		if t.Environment != "" && !flagcache.ValidEnvironment(t.Environment) {
			bad(name+".environment", "%q is not an environment name: use [a-z0-9][a-z0-9_-]{0,63}", t.Environment)
		}
	}

	oneOf("source.kind", c.Source.Kind, "embedded", "memory", "postgres", "redis")
	if c.Source.Kind == "embedded" && c.Source.DataDir == "" {
		bad("source.data_dir", "required for the embedded source")
	}
	positive("source.change_retention", c.Source.ChangeRetention)
	notNegative("source.history_max_age", c.Source.HistoryMaxAge)
	if c.Source.HistoryMaxVersions < 0 {
		bad("source.history_max_versions", "must not be negative, got %d", c.Source.HistoryMaxVersions)
	}

	if c.Source.Kind == "postgres" && c.Postgres.DSN == "" && c.Postgres.DSNFile == "" {
		bad("postgres.dsn", "required when source.kind is postgres (or set postgres.dsn_file, or FLAGCACHE_POSTGRES_DSN)")
	}
	if c.Postgres.DSN != "" && c.Postgres.DSNFile != "" {
		bad("postgres.dsn", "give either postgres.dsn or postgres.dsn_file, not both")
	}
	if c.Postgres.Schema != "" && !validSchema.MatchString(c.Postgres.Schema) {
		bad("postgres.schema", "%q is not a schema name: use [A-Za-z_][A-Za-z0-9_]*", c.Postgres.Schema)
	}
	if c.Postgres.MaxConns < 1 {
		bad("postgres.max_conns", "must be at least 1, got %d", c.Postgres.MaxConns)
	}

	oneOf("redis.mode", c.Redis.Mode, "single", "sentinel", "cluster")
	if c.Source.Kind == "redis" && len(c.Redis.Addrs) == 0 {
		bad("redis.addrs", "required when source.kind is redis")
	}
	if c.Redis.Mode == "single" && len(c.Redis.Addrs) > 1 {
		bad("redis.addrs", "mode single takes one address, got %d (use mode sentinel or cluster)", len(c.Redis.Addrs))
	}
	if c.Redis.Mode == "sentinel" && len(c.Redis.Addrs) > 0 && c.Redis.MasterName == "" {
		bad("redis.master_name", "required when redis.mode is sentinel")
	}
	for _, a := range c.Redis.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("redis.addrs", "%q is not host:port", a)
		}
	}
	if c.Redis.Password != "" && c.Redis.PasswordFile != "" {
		bad("redis.password", "give either redis.password or redis.password_file, not both")
	}
	if c.Redis.DB < 0 {
		bad("redis.db", "must not be negative, got %d", c.Redis.DB)
	}
	if c.Redis.Prefix == "" {
		bad("redis.prefix", "must not be empty")
	}
	notNegative("redis.ttl", c.Redis.TTL)
	if c.Redis.Timeout <= 0 {
		bad("redis.timeout", "must be positive, got %s", c.Redis.Timeout)
	}
	if c.Redis.InvalidationChannel == "" {
		bad("redis.invalidation_channel", "must not be empty")
	}

	if c.Cache.LRUSize < 0 {
		bad("cache.lru_size", "must not be negative, got %d", c.Cache.LRUSize)
	}
	notNegative("cache.lru_ttl", c.Cache.LRUTTL)
	notNegative("cache.negative_ttl", c.Cache.NegativeTTL)
	if c.Cache.CollectionsMaxBytes < 0 {
		bad("cache.collections_max_bytes", "must not be negative, got %d", c.Cache.CollectionsMaxBytes)
	}
	if c.Cache.CollectionsMaxEntries < 0 {
		bad("cache.collections_max_entries", "must not be negative, got %d", c.Cache.CollectionsMaxEntries)
	}
	if c.Cache.SnapshotPath != "" {
		if c.Cache.SnapshotInterval <= 0 {
			bad("cache.snapshot_interval", "must be positive, got %s", c.Cache.SnapshotInterval)
		}
		if c.Cache.SnapshotMaxBytes <= 0 {
			bad("cache.snapshot_max_bytes", "must be positive, got %d", c.Cache.SnapshotMaxBytes)
		}
	}

	if e := c.OFREP.DefaultEnvironment; e != "" && !flagcache.ValidEnvironment(e) {
		bad("ofrep.default_environment", "%q is not an environment name: use [a-z0-9][a-z0-9_-]{0,63}", e)
	}

	if c.Runtime.GCPercent <= 0 {
		bad("runtime.gc_percent", "must be positive, got %d (for the Go runtime's own pacing set GOGC)", c.Runtime.GCPercent)
	}
	if c.Runtime.GCMinHeadroomBytes < 0 {
		bad("runtime.gc_min_headroom_bytes", "must not be negative, got %d", c.Runtime.GCMinHeadroomBytes)
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "json", "text")
	return errors.Join(errs...)
}
