package pgsource

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flagcache/flagcache"
)

var (
	_ flagcache.Store         = (*Store)(nil)
	_ flagcache.Compactor     = (*Store)(nil)
	_ flagcache.HistoryReader = (*Store)(nil)
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Retention is how long delete tombstones stay in the change feed;
	// default flagcache.DefaultChangeRetention (7 days).
	Retention time.Duration
	// Schema, used by Open, is put first on the search_path of every
	// connection, and Migrate creates it if it is missing. It lets several
	// stores (or tests) share one database apart. Default: none, the
	// server's search_path decides (usually "public"). A pool given to New
	// is used as configured.
	Schema string
	// MaxConns, used by Open, caps the pool; default the DSN's
	// pool_max_conns, else pgxpool's default (4 or the number of CPUs).
	MaxConns int32
	// ListenKeepalive is how often WatchRevisions checks that its quiet
	// listening connection still answers, and how long it waits for the
	// answer; default 500ms, so a half-open connection is found within
	// 1s (the 2s a sidecar is promised to serve a plain SQL write in
	// after a fault heals must also hold the repair). The check is a
	// one-row read, twice a second while no write is notified.
	ListenKeepalive time.Duration
	// History bounds the history kept of each flag; default everything.
	History flagcache.HistoryRetention
}

// DefaultListenKeepalive is Options.ListenKeepalive's default.
const DefaultListenKeepalive = 500 * time.Millisecond

// Store is a flagcache.Store in a PostgreSQL database, safe for concurrent
// use.
type Store struct {
	pool      *pgxpool.Pool
	ownsPool  bool
	schema    string
	retention time.Duration
	keepalive time.Duration
	keep      flagcache.HistoryRetention
	// writers bounds the writes in flight to half the pool (at least
	// one). Every write waits for the revision counter's lock, so writes
	// beyond one at a time only queue on the server — each holding a
	// connection. Unbounded, a burst of writes (or one writer stuck
	// holding the lock) took every connection, and the reads behind
	// them — a cache's repair, its watch streams' feed, its misses —
	// waited for a slot: a sidecar under write load stopped seeing the
	// writes it should serve (found by the nemesis: the watch stream of
	// the daemon under CAS load delivered nothing for 2 s).
	writers chan struct{}
}

// errDSN is Open's whole answer to a DSN that does not parse.
var errDSN = flagcache.Invalid("dsn", "not a valid Postgres connection string (the parser's message is withheld: it may contain the password; percent-encode special characters such as @ in the password)")

var validSchema = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Open returns a Store on a new connection pool for dsn (a URL or key=value
// connection string, see pgxpool.ParseConfig). It does not connect: the
// pool dials on first use, so a server that is down makes calls fail with
// flagcache.ErrUnavailable, not Open. Call Migrate before first use, and
// Ping to check the server. A dsn that does not parse is an
// invalid-argument error naming "dsn" that quotes none of it.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx masks the password only up to its first "@", so a password
		// with a raw "@" or "#" leaks through its message: none of it is kept.
		return nil, errDSN
	}
	if opts.Schema != "" {
		if !validSchema.MatchString(opts.Schema) {
			return nil, flagcache.Invalid("schema", "%q is not a schema name: use [A-Za-z_][A-Za-z0-9_]*", opts.Schema)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	ConfigurePool(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgsource: %w", err)
	}
	s := New(pool, opts)
	s.ownsPool, s.schema = true, opts.Schema
	return s, nil
}

// New returns a Store on pool, which stays the caller's: Close leaves it
// open. opts.Schema and opts.MaxConns are ignored. Build the pool from a
// config passed through ConfigurePool, or a half-open network may hang
// calls on connections it left behind.
func New(pool *pgxpool.Pool, opts Options) *Store {
	if opts.Retention <= 0 {
		opts.Retention = flagcache.DefaultChangeRetention
	}
	if opts.ListenKeepalive <= 0 {
		opts.ListenKeepalive = DefaultListenKeepalive
	}
	writers := max(1, pool.Config().MaxConns/2)
	return &Store{pool: pool, retention: opts.Retention, keepalive: opts.ListenKeepalive, keep: opts.History,
		writers: make(chan struct{}, writers)}
}

// Close closes the pool if Open created it. Calls after Close fail with
// flagcache.ErrUnavailable.
func (s *Store) Close() {
	if s.ownsPool {
		s.pool.Close()
	}
}

// Ping checks that the server answers; it returns flagcache.ErrUnavailable
// (wrapping the cause) if it does not.
func (s *Store) Ping(ctx context.Context) error {
	return translate(ctx, "ping", s.pool.Ping(ctx))
}

// Get implements flagcache.Store.
func (s *Store) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, getSQL, string(id))
	flag, err := pgx.CollectExactlyOneRow(rows, scanStored)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, flagcache.ErrNotFound
	}
	return flag, translate(ctx, "get", err)
}

// GetMany implements flagcache.Store, in one round trip.
func (s *Store) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.ValidateIDs(ids); err != nil {
		return nil, err
	}
	out := make(map[flagcache.ID]*flagcache.Stored, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = string(id)
	}
	flags, err := s.collect(ctx, "get many", getManySQL, keys)
	for _, f := range flags {
		out[f.Definition.ID] = f
	}
	return out, err
}

// List implements flagcache.Store: filters, order and paging all in SQL.
func (s *Store) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	st := listStatement(q)
	return s.collect(ctx, "list", st.sql, st.args...)
}

// Count implements flagcache.Store with List's WHERE clause.
func (s *Store) Count(ctx context.Context, q flagcache.Query) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := q.Validate(); err != nil {
		return 0, err
	}
	st := countStatement(q)
	var n int64
	err := s.pool.QueryRow(ctx, st.sql, st.args...).Scan(&n)
	return int(n), translate(ctx, "count", err)
}

// Exists implements flagcache.Store.
func (s *Store) Exists(ctx context.Context, id flagcache.ID) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := id.Validate(); err != nil {
		return false, err
	}
	var ok bool
	err := s.pool.QueryRow(ctx, existsSQL, string(id)).Scan(&ok)
	return ok, translate(ctx, "exists", err)
}

// ModifiedSince implements flagcache.Store on the updated_at column (the
// seed's index), which every write sets to the definition's updated_at
// (another writer's need not: see Stored.Modified).
func (s *Store) ModifiedSince(ctx context.Context, t time.Time) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The column holds microseconds: truncating t keeps "strictly after"
	// exact for a t between two microseconds.
	return s.collectModified(ctx, modifiedSinceSQL, t.Truncate(time.Microsecond))
}

// collect runs a query of flagColumns and decodes every row.
func (s *Store) collect(ctx context.Context, op, sql string, args ...any) ([]*flagcache.Stored, error) {
	rows, _ := s.pool.Query(ctx, sql, args...)
	flags, err := pgx.CollectRows(rows, scanStored)
	if err != nil {
		return nil, translate(ctx, op, err)
	}
	return flags, nil
}

// scanStored decodes a row of flagColumns.
func scanStored(row pgx.CollectableRow) (*flagcache.Stored, error) {
	var (
		id                string
		raw               []byte
		version, revision int64
	)
	if err := row.Scan(&id, &raw, &version, &revision); err != nil {
		return nil, err
	}
	return decode(id, raw, version, revision)
}

// decode turns a stored definition into a Stored, served as stored
// whatever its shape (flagcache.DecodeStored): definitions are not
// validated (another writer's data is served as stored), and the row's id
// is the flag's id whatever the JSON says. jsonb keeps the value, not the
// text: it is served compact.
func decode(id string, raw []byte, version, revision int64) (*flagcache.Stored, error) {
	return flagcache.DecodeStored(flagcache.ID(id), flagcache.CompactJSON(raw), version, revision), nil
}
