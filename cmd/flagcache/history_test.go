package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/internal/testenv"
)

// TestHistoryEndToEnd: two named tokens write through the API, a plain SQL
// writer behind the daemon's back; the history read through the client
// and through `flagcache history` names each; `flagcache revert` under a
// racing write gets a conflict and overwrites nothing, and without one
// writes the old definition back.
func TestHistoryEndToEnd(t *testing.T) {
	env := postgresEnv(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "flagcache.toml", `
[[auth.tokens]]
name = "alice"
scope = "write"
value = "alice-secret-0123456789"

[[auth.tokens]]
name = "deploy-bot"
scope = "write"
value = "bot-secret-0123456789"
`)
	d := startServe(t, env, "--config", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := mustClient(t, d.base, "alice-secret-0123456789")
	bot := mustClient(t, d.base, "bot-secret-0123456789")

	def, _ := flagcache.NewBoolean("checkout", "Checkout v1", false)
	if _, err := alice.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	def.Name = "Checkout v2"
	if _, err := bot.Update(ctx, def, 1); err != nil {
		t.Fatal(err)
	}
	sql := mustSQL(t, env)
	if _, err := sql.Exec(ctx, `UPDATE feature_flags SET definition = jsonb_set(definition, '{name}', '"Checkout by hand"') WHERE id = 'checkout'`); err != nil {
		t.Fatal(err)
	}
	var role string
	if err := sql.QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil {
		t.Fatal(err)
	}
	wantHistory := []string{"3 upsert sql:" + role + " Checkout by hand", "2 upsert deploy-bot Checkout v2", "1 upsert alice Checkout v1"}

	page, err := alice.History(ctx, "checkout", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := summarizeHistory(page); strings.Join(got, "|") != strings.Join(wantHistory, "|") {
		t.Fatalf("history through the client:\n got %q\nwant %q", got, wantHistory)
	}

	cliEnv := map[string]string{envURL: d.base, envToken: "alice-secret-0123456789"}
	r := runAdmin(t, cliEnv, "", "history", "checkout", "--json")
	var fromCLI flagcache.HistoryPage
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &fromCLI) != nil {
		t.Fatalf("history --json: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if got := summarizeHistory(&fromCLI); strings.Join(got, "|") != strings.Join(wantHistory, "|") {
		t.Fatalf("history --json:\n got %q\nwant %q", got, wantHistory)
	}
	r = runAdmin(t, cliEnv, "", "history", "checkout")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "VERSION") ||
		!strings.Contains(lines[1], "sql:"+role) || !strings.Contains(lines[2], "deploy-bot") || !strings.Contains(lines[3], "alice") {
		t.Fatalf("history table: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// The racing write lands between revert's read of the current version
	// and its write: a proxy makes it, as deploy-bot, when the PUT arrives.
	var raced atomic.Bool
	target, _ := url.Parse(d.base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut && raced.CompareAndSwap(false, true) {
			racing, _ := flagcache.NewBoolean("checkout", "Checkout racing", true)
			if _, err := bot.Update(req.Context(), racing, 0); err != nil {
				t.Errorf("racing write: %v", err)
			}
		}
		proxy.ServeHTTP(w, req)
	}))
	defer front.Close()
	r = runAdmin(t, map[string]string{envURL: front.URL, envToken: "alice-secret-0123456789"}, "", "revert", "checkout", "--to", "1")
	wantExit(t, r, 1, "conflict")
	if !raced.Load() {
		t.Fatal("revert sent no PUT")
	}
	cur, err := alice.Get(ctx, "checkout")
	if err != nil || cur.Version != 4 || cur.Definition.Name != "Checkout racing" {
		t.Fatalf("after the conflicting revert: %+v, %v; want the racing write at version 4", cur, err)
	}

	// Without a race the revert is one more version, by the reverting token.
	r = runAdmin(t, cliEnv, "", "revert", "checkout", "--to", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "version 5") {
		t.Fatalf("revert: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	cur, err = alice.Get(ctx, "checkout")
	if err != nil || cur.Version != 5 || cur.Definition.Name != "Checkout v1" {
		t.Fatalf("after revert: %+v, %v; want version 1's definition at version 5", cur, err)
	}
	page, err = alice.History(ctx, "checkout", 0, 1)
	if err != nil || len(page.Versions) != 1 || page.Versions[0].Actor != "alice" || page.Next != 5 {
		t.Fatalf("newest history entry: %+v, %v; want version 5 by alice, next 5", page, err)
	}

	// Bad input.
	wantExit(t, runAdmin(t, cliEnv, "", "history", "never-written"), 1, "not found")
	wantExit(t, runAdmin(t, cliEnv, "", "revert", "checkout", "--to", "99"), 1, "version 99")
	wantExit(t, runAdmin(t, cliEnv, "", "revert", "checkout"), 2, "--to")
	for _, c := range []struct {
		path, code string
		status     int
	}{
		{"/v1/flags/checkout/history?limit=1001", "invalid_argument", 400},
		{"/v1/flags/checkout/history?limit=0", "invalid_argument", 400},
		{"/v1/flags/checkout/history?before=-1", "invalid_argument", 400},
		{"/v1/flags/checkout/history?before=x", "invalid_argument", 400},
		{"/v1/flags/checkout/history?page=2", "invalid_argument", 400},
		{"/v1/flags/never-written/history", "not_found", 404},
		{"/v1/flags/checkout/versions/99", "not_found", 404},
		{"/v1/flags/checkout/versions/0", "invalid_argument", 400},
		{"/v1/flags/checkout/versions/v1", "invalid_argument", 400},
	} {
		resp := d.do(t, "GET", c.path, "", "Authorization: Bearer alice-secret-0123456789")
		want(t, resp, c.status, c.code)
	}
	resp := d.do(t, "GET", "/v1/flags/checkout/versions/2", "", "Authorization: Bearer alice-secret-0123456789")
	if st := mustStored(t, resp); st.Version != 2 || st.Definition.Name != "Checkout v2" {
		t.Fatalf("GET versions/2: %+v", st)
	}
}

func mustClient(t *testing.T, base, token string) *client.Client {
	t.Helper()
	c, err := client.New(base, client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mustSQL connects to the daemon's Postgres schema as a plain SQL writer.
func mustSQL(t *testing.T, env map[string]string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(testenv.PostgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{env["FLAGCACHE_POSTGRES_SCHEMA"]}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		testenv.Unreachable(t, "postgres", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func summarizeHistory(p *flagcache.HistoryPage) []string {
	var out []string
	for _, e := range p.Versions {
		name := ""
		if e.Definition != nil {
			name = e.Definition.Name
		}
		out = append(out, fmt.Sprintf("%d %s %s %s", e.Version, e.Op, e.Actor, name))
	}
	return out
}
