package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/internal/testenv"
)

// TestSecurity sends the attack table to a daemon in the sidecar
// configuration (Postgres source, Redis cache, a read and a write token):
// missing, wrong and under-scoped tokens, an oversized body, ids built to
// escape a Redis key or a URL path, and filter values built to escape SQL.
// Every request must get its expected status; afterwards the Postgres
// tables hold exactly the flags written, and every key of the daemon's
// private redis-server is under its prefix.
func TestSecurity(t *testing.T) {
	const (
		writeToken = "sec-write-secret"
		readToken  = "sec-read-secret-1"
	)
	env := postgresEnv(t)
	rdb := redistest.Start(t, redistest.Options{})
	prefix := testenv.UniqueName("fcsec")
	env["FLAGCACHE_REDIS_ADDRS"] = rdb.Addr
	env["FLAGCACHE_REDIS_PREFIX"] = prefix
	env["FLAGCACHE_REDIS_INVALIDATION_CHANNEL"] = prefix + ":invalidations"

	t.Run("non-loopback bind without tokens is refused", func(t *testing.T) {
		for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0"} {
			code, _, stderr := runCLI(t, env, "serve", "--listen", addr, "--data-dir", t.TempDir())
			if code == 0 || !strings.Contains(stderr, "refusing to listen") {
				t.Errorf("serve --listen %s without tokens: got exit code %d, stderr %q; want a refusal", addr, code, stderr)
			}
		}
	})

	env["FLAGCACHE_TOKEN"] = writeToken
	env["FLAGCACHE_READ_TOKEN"] = readToken
	d := startServe(t, env)
	tables := pgTables(t, env)

	var (
		write = "Authorization: Bearer " + writeToken
		read  = "Authorization: Bearer " + readToken
		q     = url.QueryEscape
		long  = strings.Repeat("a", 300)
		huge  = strings.Repeat("b", 10_000)
	)
	flagJSON := func(id, extra string) string {
		quoted, _ := json.Marshal(id)
		return fmt.Sprintf(`{"id":%s,"name":"N","kind":"boolean","default_value":true%s}`, quoted, extra)
	}
	// SQL and Lua meta-characters stored as plain data, then matched exactly.
	const (
		sqlOwner = `' OR 1=1 --`
		sqlTag   = `x'); DROP TABLE feature_flags;--`
	)
	want(t, d.do(t, "POST", "/v1/flags", flagJSON("victim", `,"status":"active","environments":{"production":{"enabled":true}},"metadata":{"owner":"team-a","tags":["t1"]}`), write), 201, "")

	cases := []struct {
		name         string
		auth         string // an Authorization header line, or none
		method, path string
		body         string
		header       string
		status       int
		code         string
		check        func(t *testing.T, r response) // optional
	}{
		// Tokens.
		{"no token on a read", "", "GET", "/v1/flags", "", "", 401, "unauthenticated", nil},
		{"no token on a write", "", "POST", "/v1/flags", flagJSON("nt", ""), "", 401, "unauthenticated", nil},
		{"no token on a delete", "", "DELETE", "/v1/flags/victim", "", "", 401, "unauthenticated", nil},
		{"no token on watch", "", "GET", "/v1/watch", "", "", 401, "unauthenticated", nil},
		{"wrong token on a read", "Authorization: Bearer guess", "GET", "/v1/flags/victim", "", "", 401, "unauthenticated", nil},
		{"wrong token on a write", "Authorization: Bearer guess", "PUT", "/v1/flags/victim", flagJSON("victim", ""), "", 401, "unauthenticated", nil},
		{"token with a suffix", "Authorization: Bearer " + writeToken + "x", "DELETE", "/v1/flags/victim", "", "", 401, "unauthenticated", nil},
		{"token prefix", "Authorization: Bearer " + writeToken[:len(writeToken)-1], "DELETE", "/v1/flags/victim", "", "", 401, "unauthenticated", nil},
		{"token in the Basic scheme", "Authorization: Basic " + writeToken, "GET", "/v1/flags", "", "", 401, "unauthenticated", nil},
		{"read token on a create", read, "POST", "/v1/flags", flagJSON("rt", ""), "", 403, "permission_denied", nil},
		{"read token on an update", read, "PUT", "/v1/flags/victim", flagJSON("victim", ""), "", 403, "permission_denied", nil},
		{"read token on a delete", read, "DELETE", "/v1/flags/victim", "", "", 403, "permission_denied", nil},
		{"read token on a read", read, "GET", "/v1/flags/victim", "", "", 200, "", nil},
		{"read token on batchGet", read, "POST", "/v1/flags:batchGet", `{"ids":["victim"]}`, "", 200, "", nil},
		{"write token on a read", write, "GET", "/v1/changes", "", "", 200, "", nil},

		// Bodies.
		{"body over 1 MiB", write, "POST", "/v1/flags", flagJSON("big", `,"description":"`+strings.Repeat("x", 1<<20)+`"`), "", 413, "payload_too_large", nil},
		{"batchGet body over 1 MiB", read, "POST", "/v1/flags:batchGet", `{"ids":["` + strings.Repeat("a", 1<<20) + `"]}`, "", 413, "payload_too_large", nil},
		{"update body over 1 MiB", write, "PUT", "/v1/flags/victim", flagJSON("victim", `,"x":"`+strings.Repeat("x", 1<<20)+`"`), "", 413, "payload_too_large", nil},

		// Ids that would escape a Redis key, a hash slot or a URL path.
		{"body id *", write, "POST", "/v1/flags", flagJSON("*", ""), "", 400, "invalid_argument", nil},
		{"body id prefix:*", write, "POST", "/v1/flags", flagJSON(prefix+":*", ""), "", 400, "invalid_argument", nil},
		{"body id {x}", write, "POST", "/v1/flags", flagJSON("{x}", ""), "", 400, "invalid_argument", nil},
		{"body id with a hash tag", write, "POST", "/v1/flags", flagJSON("a{"+prefix+"}b", ""), "", 400, "invalid_argument", nil},
		{"body id a b", write, "POST", "/v1/flags", flagJSON("a b", ""), "", 400, "invalid_argument", nil},
		{"body id ..", write, "POST", "/v1/flags", flagJSON("..", ""), "", 400, "invalid_argument", nil},
		{"body id ../victim", write, "POST", "/v1/flags", flagJSON("../victim", ""), "", 400, "invalid_argument", nil},
		{"body id with CR LF", write, "POST", "/v1/flags", flagJSON("a\r\nSET x 1", ""), "", 400, "invalid_argument", nil},
		{"body id %0D%0A", write, "POST", "/v1/flags", flagJSON("a%0D%0Ab", ""), "", 400, "invalid_argument", nil},
		{"body id with NUL", write, "POST", "/v1/flags", flagJSON("a\x00b", ""), "", 400, "invalid_argument", nil},
		{"body id of 300 bytes", write, "POST", "/v1/flags", flagJSON(long, ""), "", 400, "invalid_argument", nil},
		{"body id of 10,000 bytes", write, "POST", "/v1/flags", flagJSON(huge, ""), "", 400, "invalid_argument", nil},
		{"path id *", read, "GET", "/v1/flags/*", "", "", 400, "invalid_argument", nil},
		{"path id prefix:*", write, "DELETE", "/v1/flags/" + prefix + ":*", "", "", 400, "invalid_argument", nil},
		{"path id {x}", read, "GET", "/v1/flags/%7Bx%7D", "", "", 400, "invalid_argument", nil},
		{"path id with a hash tag", write, "PUT", "/v1/flags/a%7B" + prefix + "%7Db", flagJSON("a{"+prefix+"}b", ""), "", 400, "invalid_argument", nil},
		{"path id a b", read, "GET", "/v1/flags/a%20b", "", "", 400, "invalid_argument", nil},
		{"path id ..", read, "GET", "/v1/flags/%2E%2E", "", "", 400, "invalid_argument", nil},
		{"path ../ (not cleaned into another route)", read, "GET", "/v1/flags/../changes", "", "", 404, "not_found", nil},
		{"path id %0D%0A", write, "DELETE", "/v1/flags/a%0D%0Ab", "", "", 400, "invalid_argument", nil},
		{"path id %00", read, "GET", "/v1/flags/a%00b", "", "", 400, "invalid_argument", nil},
		{"path id with a slash", read, "GET", "/v1/flags/a%2Fb", "", "", 400, "invalid_argument", nil},
		{"path id of 10,000 bytes", read, "GET", "/v1/flags/" + huge, "", "", 400, "invalid_argument", nil},
		{"batchGet of bad ids", read, "POST", "/v1/flags:batchGet", `{"ids":["victim","*","` + prefix + `:*"]}`, "", 400, "invalid_argument", nil},
		{"id shaped like a cache key", write, "POST", "/v1/flags", flagJSON(prefix+":cache:victim", ""), "", 201, "", nil},
		{"id shaped like a cache key, read", read, "GET", "/v1/flags/" + prefix + ":cache:victim", "", "", 200, "", nil},
		{"id shaped like a key of another prefix", write, "POST", "/v1/flags", flagJSON("flagcache:cache:victim", ""), "", 201, "", nil},

		// Filter values that would escape SQL: matched as plain strings.
		{"owner ' OR 1=1 --", read, "GET", "/v1/flags?owner=" + q(sqlOwner), "", "", 200, "", total(0)},
		{"tag x'); DROP TABLE", read, "GET", "/v1/flags?tag=" + q(sqlTag), "", "", 200, "", total(0)},
		{"two tags, one injected", read, "GET", "/v1/flags?tag=t1&tag=" + q(sqlTag), "", "", 200, "", total(1)},
		{"count with owner ' OR 1=1 --", read, "GET", "/v1/flags:count?owner=" + q(sqlOwner), "", "", 200, "", count(0)},
		{"status injection", read, "GET", "/v1/flags?status=" + q(`active' OR '1'='1`), "", "", 400, "invalid_argument", nil},
		{"status; DROP", read, "GET", "/v1/flags:count?status=" + q(`active;DROP TABLE feature_flags`), "", "", 400, "invalid_argument", nil},
		{"environment injection", read, "GET", "/v1/flags?environment=" + q(`production' OR '1'='1`), "", "", 400, "invalid_argument", nil},
		{"environment jsonb path", read, "GET", "/v1/flags?environment=" + q(`production'->>'x`), "", "", 400, "invalid_argument", nil},
		{"include_archived injection", read, "GET", "/v1/flags?include_archived=" + q(`true OR 1=1`), "", "", 400, "invalid_argument", nil},
		{"limit injection", read, "GET", "/v1/flags?limit=" + q(`1; DROP TABLE feature_flags`), "", "", 400, "invalid_argument", nil},
		{"offset injection", read, "GET", "/v1/flags?offset=" + q(`0 OR 1=1`), "", "", 400, "invalid_argument", nil},
		{"since injection", read, "GET", "/v1/flags:modifiedSince?since=" + q(`2020-01-01T00:00:00Z' OR '1'='1`), "", "", 400, "invalid_argument", nil},
		{"after injection", read, "GET", "/v1/changes?after=" + q(`0;DELETE FROM feature_flags`), "", "", 400, "invalid_argument", nil},
		{"If-Match injection", write, "PUT", "/v1/flags/victim", flagJSON("victim", ""), `If-Match: "v1' OR 1=1 --"`, 400, "invalid_argument", nil},
		{"path id injection", write, "DELETE", "/v1/flags/" + url.PathEscape(`victim';DROP TABLE feature_flags;--`), "", "", 400, "invalid_argument", nil},
		{"injection stored as data", write, "POST", "/v1/flags", flagJSON("injected", `,"description":"'; DROP TABLE feature_flags;--","metadata":{"owner":"`+sqlOwner+`","tags":["`+sqlTag+`"]}`), "", 201, "", nil},
		{"owner matched exactly", read, "GET", "/v1/flags?owner=" + q(sqlOwner), "", "", 200, "", total(1)},
		{"tag matched exactly", read, "GET", "/v1/flags:count?tag=" + q(sqlTag), "", "", 200, "", count(1)},
		{"every flag still there", read, "GET", "/v1/flags?include_archived=true", "", "", 200, "", total(4)},
	}
	created := 1 // victim
	unexpected := 0
	for _, c := range cases {
		ok := t.Run(c.name, func(t *testing.T) {
			var headers []string
			for _, h := range []string{c.auth, c.header} {
				if h != "" {
					headers = append(headers, h)
				}
			}
			r := d.do(t, c.method, c.path, c.body, headers...)
			if r.status != c.status || r.errorCode() != c.code {
				t.Fatalf("%s %s: got %d %q, want %d %q; body %.300s", c.method, c.path, r.status, r.errorCode(), c.status, c.code, r.body)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
		if !ok {
			unexpected++
		}
		if c.status == 201 {
			created++
		}
	}

	// Nothing but the accepted creates was written, and the tables are
	// those migrate made, feature_flags holding one row per flag.
	var feed struct{ Revision int64 }
	d.do(t, "GET", "/v1/changes?after=0", "", read).json(t, &feed)
	if feed.Revision != int64(created) {
		t.Errorf("the store's revision is %d, want %d (one per accepted create)", feed.Revision, created)
	}
	if after := pgTables(t, env); !slices.Equal(after, tables) {
		t.Errorf("the schema's tables changed: before %v, after %v", tables, after)
	}
	rows := pgCount(t, env, "feature_flags")
	if rows != created {
		t.Errorf("feature_flags holds %d rows, want %d", rows, created)
	}

	keys, outside := redisKeys(t, rdb, prefix+":")
	if len(outside) > 0 {
		t.Errorf("%d Redis keys outside the prefix %q: %q", len(outside), prefix+":", outside)
	}
	if keys == 0 {
		t.Error("Redis holds no key at all: the cache tier was not used, so the check proves nothing")
	}
	t.Logf("FIGURE security | requests=%d unexpected_statuses=%d writes_accepted=%d feature_flags_rows=%d redis_keys=%d outside_prefix=%d",
		len(cases), unexpected, created, rows, keys, len(outside))
}

// total and count check the "total" of a list or the "count" of a count.
func total(n int) func(*testing.T, response) { return number("total", n) }
func count(n int) func(*testing.T, response) { return number("count", n) }

func number(field string, n int) func(*testing.T, response) {
	return func(t *testing.T, r response) {
		t.Helper()
		var body map[string]json.RawMessage
		r.json(t, &body)
		if got := string(body[field]); got != fmt.Sprint(n) {
			t.Fatalf("got %s %s, want %d: %.300s", field, got, n, r.body)
		}
	}
}

// pgConnect connects to the daemon's Postgres schema.
func pgConnect(t *testing.T, env map[string]string) (*pgx.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, env["FLAGCACHE_POSTGRES_DSN"])
	if err != nil {
		testenv.Unreachable(t, "postgres", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, ctx
}

// pgTables lists the tables of the daemon's schema.
func pgTables(t *testing.T, env map[string]string) []string {
	t.Helper()
	conn, ctx := pgConnect(t, env)
	rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
		env["FLAGCACHE_POSTGRES_SCHEMA"])
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "feature_flags") {
		t.Fatalf("no feature_flags table in %s: %v", env["FLAGCACHE_POSTGRES_SCHEMA"], names)
	}
	return names
}

// pgCount counts the rows of a table of the daemon's schema.
func pgCount(t *testing.T, env map[string]string, table string) int {
	t.Helper()
	conn, ctx := pgConnect(t, env)
	var n int
	name := pgx.Identifier{env["FLAGCACHE_POSTGRES_SCHEMA"], table}.Sanitize()
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+name).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", name, err)
	}
	return n
}

// redisKeys counts the keys of a private redis-server and returns those
// that do not start with prefix.
func redisKeys(t *testing.T, s *redistest.Server, prefix string) (n int, outside []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := s.Client().Scan(ctx, 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		n++
		if !strings.HasPrefix(iter.Val(), prefix) {
			outside = append(outside, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	return n, outside
}
