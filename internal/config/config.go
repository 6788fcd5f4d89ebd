package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Config is the whole configuration of `flagcache serve`.
type Config struct {
	Server   Server   `toml:"server"`
	Auth     Auth     `toml:"auth"`
	Source   Source   `toml:"source"`
	Postgres Postgres `toml:"postgres"`
	Redis    Redis    `toml:"redis"`
	Cache    Cache    `toml:"cache"`
	Metrics  Metrics  `toml:"metrics"`
	Log      Log      `toml:"log"`
	OFREP    OFREP    `toml:"ofrep"`
	Runtime  Runtime  `toml:"runtime"`
}

// Server is the HTTP server.
type Server struct {
	Listen            string        `toml:"listen"`
	MaxBodyBytes      int64         `toml:"max_body_bytes"`
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	ReadTimeout       time.Duration `toml:"read_timeout"`
	WriteTimeout      time.Duration `toml:"write_timeout"`
	IdleTimeout       time.Duration `toml:"idle_timeout"`
	ShutdownTimeout   time.Duration `toml:"shutdown_timeout"`
	WatchPoll         time.Duration `toml:"watch_poll"`
	WatchHeartbeat    time.Duration `toml:"watch_heartbeat"`
	// MaxWatchStreams caps the open /v1/watch streams of the daemon and
	// MaxWatchStreamsPerToken those of one token (503 beyond).
	MaxWatchStreams         int `toml:"max_watch_streams"`
	MaxWatchStreamsPerToken int `toml:"max_watch_streams_per_token"`
}

// Auth lists the bearer tokens. None: no auth, and the daemon binds only
// loopback addresses.
type Auth struct {
	Tokens []Token `toml:"tokens"`
}

// Token is one bearer token: its scope, and its secret inline (Value) or
// in a file holding just the token (File), such as a mounted Secret.
type Token struct {
	// Name is the actor the history records for the token's writes;
	// default "token-N" (N its 1-based position). The environment tokens
	// are EnvTokenName and EnvReadTokenName.
	Name  string `toml:"name"`
	Scope string `toml:"scope"`
	Value Secret `toml:"value"`
	File  string `toml:"file"`
	// Environment, when set, is the environment OFREP evaluations made
	// with this token use when their context names none.
	Environment string `toml:"environment"`

	from string // the environment variable it came from, if any
}

// Source is the source of truth.
type Source struct {
	// Kind is embedded (a bbolt file in DataDir), memory, postgres or redis.
	Kind string `toml:"kind"`
	// DataDir holds the embedded store's file. Empty: $XDG_DATA_HOME/flagcache
	// when XDG_DATA_HOME is set, else ./flagcache-data.
	DataDir         string        `toml:"data_dir"`
	ChangeRetention time.Duration `toml:"change_retention"`
	// The history retention: versions older than HistoryMaxAge, and
	// beyond the newest HistoryMaxVersions of a flag, are dropped (its
	// newest version never is). 0: no bound, the default.
	HistoryMaxAge      time.Duration `toml:"history_max_age"`
	HistoryMaxVersions int           `toml:"history_max_versions"`
}

// Postgres is the Postgres source.
type Postgres struct {
	DSN     Secret `toml:"dsn"`
	DSNFile string `toml:"dsn_file"`
	// Schema goes first on the search_path; migrate creates it. Empty:
	// the server's search_path (usually public).
	Schema   string `toml:"schema"`
	MaxConns int    `toml:"max_conns"`
}

// Redis is the shared cache (or, with source.kind = "redis", the source).
// No addresses: no Redis.
type Redis struct {
	Addrs               []string      `toml:"addrs"`
	Mode                string        `toml:"mode"`
	MasterName          string        `toml:"master_name"`
	Username            string        `toml:"username"`
	Password            Secret        `toml:"password"`
	PasswordFile        string        `toml:"password_file"`
	DB                  int           `toml:"db"`
	TLS                 bool          `toml:"tls"`
	Prefix              string        `toml:"prefix"`
	TTL                 time.Duration `toml:"ttl"`
	Timeout             time.Duration `toml:"timeout"`
	InvalidationChannel string        `toml:"invalidation_channel"`
	ShardedPubSub       bool          `toml:"sharded_pubsub"`
}

// Cache is the in-process LRU tier, and the collection cache beside it.
type Cache struct {
	LRUSize     int           `toml:"lru_size"`
	LRUTTL      time.Duration `toml:"lru_ttl"`
	NegativeTTL time.Duration `toml:"negative_ttl"`
	// CollectionsMaxBytes and CollectionsMaxEntries bound the results of
	// lists, counts and change-feed pages kept at the applied revision
	// (estimated bytes, results); 0 turns that cache off.
	CollectionsMaxBytes   int64 `toml:"collections_max_bytes"`
	CollectionsMaxEntries int   `toml:"collections_max_entries"`
	// SnapshotPath is the file the LRU's flags are kept in, so a restart
	// while the source and Redis are both down serves them (stale-marked).
	// Empty: no snapshot.
	SnapshotPath     string        `toml:"snapshot_path"`
	SnapshotInterval time.Duration `toml:"snapshot_interval"`
	SnapshotMaxBytes int           `toml:"snapshot_max_bytes"`
}

// Metrics is observability export.
type Metrics struct {
	Enabled      bool   `toml:"enabled"`
	OTLPEndpoint string `toml:"otlp_endpoint"`
}

// Log is the daemon's log.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// OFREP is the OpenFeature Remote Evaluation Protocol endpoints.
type OFREP struct {
	// DefaultEnvironment is evaluated in when neither the context nor the
	// token names an environment. Empty: such a request is refused.
	DefaultEnvironment string `toml:"default_environment"`
}

// Runtime is how `flagcache serve` paces the Go garbage collector when
// neither GOGC nor GOMEMLIMIT is set in its environment (either one set:
// the Go runtime's own pacing, as the user asked, and these are ignored).
// After every cycle the heap may grow past the live heap by GCPercent
// percent of it, and by at least GCMinHeadroomBytes: a small heap is not
// collected every few MiB of request garbage, a large one (an LRU of
// 100,000 flags) does not double (docs/benchmarks.md, session 5).
type Runtime struct {
	GCPercent          int   `toml:"gc_percent"`
	GCMinHeadroomBytes int64 `toml:"gc_min_headroom_bytes"`
}

// Default returns the configuration used when nothing else is given.
func Default() Config {
	return Config{
		Server: Server{
			Listen:            "127.0.0.1:8080",
			MaxBodyBytes:      1 << 20,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ShutdownTimeout:   15 * time.Second,
			WatchPoll:         250 * time.Millisecond,
			WatchHeartbeat:    15 * time.Second,
			MaxWatchStreams:   1000,

			MaxWatchStreamsPerToken: 100,
		},
		Source: Source{Kind: "embedded", ChangeRetention: 7 * 24 * time.Hour},
		Postgres: Postgres{
			MaxConns: 10,
		},
		Redis: Redis{
			Mode:                "single",
			Prefix:              "flagcache",
			TTL:                 time.Hour,
			Timeout:             100 * time.Millisecond,
			InvalidationChannel: "flagcache:invalidations",
		},
		Cache: Cache{LRUSize: 10000, LRUTTL: time.Minute, NegativeTTL: 5 * time.Second,
			CollectionsMaxBytes: 64 << 20, CollectionsMaxEntries: 1024,
			SnapshotInterval: 30 * time.Second, SnapshotMaxBytes: 64 << 20},
		Metrics: Metrics{Enabled: true},
		Log:     Log{Level: "info", Format: "json"},
		Runtime: Runtime{GCPercent: 75, GCMinHeadroomBytes: 64 << 20},
	}
}

// Secret is a string that never shows in logs or formatted output.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// MarshalText keeps secrets out of JSON logs.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// plain is Config without its methods, so formatting it does not recurse;
// its Secret fields still redact themselves.
type plain Config

// LogValue logs the configuration with its secrets redacted.
func (c Config) LogValue() slog.Value { return slog.AnyValue(c.redacted()) }

// String formats the configuration with its secrets redacted.
func (c Config) String() string { return fmt.Sprintf("%+v", c.redacted()) }

// redacted is c without its secrets: the Secret fields redact themselves;
// a URL setting's userinfo is replaced here.
func (c Config) redacted() plain {
	c.Metrics.OTLPEndpoint = RedactURL(c.Metrics.OTLPEndpoint)
	return plain(c)
}

// RedactURL returns a URL with the password of its userinfo replaced by
// "xxxxx" (and the user kept), for logs and error messages. A value that
// does not parse as a URL but holds an @ is redacted whole.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return redacted
		}
		return s
	}
	if u.User != nil {
		if _, has := u.User.Password(); !has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.Redacted()
}
