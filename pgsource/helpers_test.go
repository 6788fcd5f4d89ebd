package pgsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
)

// mustAdmin returns a connection to the test server outside any test
// schema, skipping (or failing, in CI) when the server is unreachable.
func mustAdmin(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.PostgresDSN())
	if err != nil {
		testenv.Unreachable(tb, "postgres", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// mustSchema returns a fresh schema name, dropped with everything in it
// when the test ends.
func mustSchema(tb testing.TB) string {
	tb.Helper()
	admin := mustAdmin(tb)
	name := testenv.UniqueName("fc_")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// mustOpen opens a Store on schema without migrating it.
func mustOpen(tb testing.TB, schema string, opts pgsource.Options) *pgsource.Store {
	tb.Helper()
	opts.Schema = schema
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	s, err := pgsource.Open(context.Background(), testenv.PostgresDSN(), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// mustStore returns a migrated, empty Store in a schema of its own, and
// the schema's name.
func mustStore(tb testing.TB, opts pgsource.Options) (*pgsource.Store, string) {
	tb.Helper()
	schema := mustSchema(tb)
	s := mustOpen(tb, schema, opts)
	if err := s.Migrate(ctxFor(tb)); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s, schema
}

func ctxFor(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// mustFlag returns a valid boolean definition.
func mustFlag(tb testing.TB, id, name string) *flagcache.Definition {
	tb.Helper()
	d, err := flagcache.NewBoolean(flagcache.ID(id), name, false)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// mustConnIn returns a plain connection whose search_path is schema, for
// writing and inspecting rows behind the Store's back.
func mustConnIn(tb testing.TB, schema string) *pgx.Conn {
	tb.Helper()
	cfg, err := pgx.ParseConfig(testenv.PostgresDSN())
	if err != nil {
		tb.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	conn, err := pgx.ConnectConfig(ctxFor(tb), cfg)
	if err != nil {
		testenv.Unreachable(tb, "postgres", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// fillSQL inserts $1 flags behind the Store's back, the way a bulk import
// would: flag-00001… named "Flag 00001"…, tag "tag-<i mod 100>" and
// "all", owner "team-<i mod 50>", environments production and staging,
// status deprecated for 1 in 100, archived for 1 in 100, else
// alternating active and inactive.
const fillSQL = `
INSERT INTO feature_flags (id, definition)
SELECT 'flag-' || lpad(i::text, 5, '0'), jsonb_build_object(
	'id', 'flag-' || lpad(i::text, 5, '0'),
	'name', 'Flag ' || lpad(i::text, 5, '0'),
	'kind', 'boolean',
	'default_value', false,
	'variations', jsonb_build_array(jsonb_build_object('value', true), jsonb_build_object('value', false)),
	'environments', jsonb_build_object('production', jsonb_build_object('enabled', i % 2 = 0),
	                                   'staging', jsonb_build_object('enabled', true)),
	'status', CASE WHEN i % 100 = 1 THEN 'deprecated' WHEN i % 100 = 2 THEN 'archived'
	               WHEN i % 2 = 0 THEN 'active' ELSE 'inactive' END,
	'metadata', jsonb_build_object('tags', jsonb_build_array('tag-' || (i % 100), 'all'),
	                               'owner', 'team-' || (i % 50)))
FROM generate_series(1, $1::int) AS i`

// mustFill inserts n flags (see fillSQL) into the store's schema and
// refreshes the planner's statistics.
func mustFill(tb testing.TB, schema string, n int) {
	tb.Helper()
	conn := mustConnIn(tb, schema)
	if _, err := conn.Exec(ctxFor(tb), fillSQL, n); err != nil {
		tb.Fatalf("fill: %v", err)
	}
	if _, err := conn.Exec(ctxFor(tb), "ANALYZE feature_flags"); err != nil {
		tb.Fatalf("analyze: %v", err)
	}
}

type change struct {
	Revision int64
	Op       flagcache.Op
	ID       flagcache.ID
	Version  int64
}

func summarize(feed *flagcache.ChangeFeed) []change {
	var out []change
	for _, c := range feed.Changes {
		out = append(out, change{c.Revision, c.Op, c.ID, c.Version})
	}
	return out
}

func feedIDs(feed *flagcache.ChangeFeed) []flagcache.ID {
	var out []flagcache.ID
	for _, c := range feed.Changes {
		out = append(out, c.ID)
	}
	return out
}

func ids(flags []*flagcache.Stored) []flagcache.ID {
	var out []flagcache.ID
	for _, f := range flags {
		out = append(out, f.Definition.ID)
	}
	return out
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
