package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/internal/ofreptest"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/ofprovider"
)

// ofrepConfig has a write token, an unbound read token, a read token
// bound to production, and staging as the default environment.
const ofrepConfig = `
[[auth.tokens]]
scope = "write"
value = "write-token-0123456789"

[[auth.tokens]]
scope = "read"
value = "read-token-0123456789"

[[auth.tokens]]
scope = "read"
value = "bound-token-0123456789"
environment = "production"

[ofrep]
default_environment = "staging"
`

// startOFREP starts a daemon on env with ofrepConfig and the OFREP
// fixtures seeded through the HTTP API.
func startOFREP(t *testing.T, env map[string]string) (*testDaemon, ofreptest.Target) {
	t.Helper()
	cfg := writeFile(t, t.TempDir(), "flagcache.toml", ofrepConfig)
	d := startServe(t, env, "--config", cfg)
	d.token = "write-token-0123456789"
	writer := newClient(t, d.base, client.WithToken("write-token-0123456789"))
	if err := ofreptest.Seed(context.Background(), writer); err != nil {
		t.Fatal(err)
	}
	n := 0
	write := func(t *testing.T) {
		n++
		def, _ := flagcache.NewBoolean(flagcache.ID(fmt.Sprintf("touched-%d", n)), "Touched", true)
		if _, err := writer.Create(context.Background(), def); err != nil {
			t.Fatal(err)
		}
	}
	return d, ofreptest.Target{Base: d.base, Token: "read-token-0123456789", BoundToken: "bound-token-0123456789", Client: d.client, Write: write}
}

func newClient(t *testing.T, base string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestOFREP runs every row of the mapping, the environment resolution,
// bad input, auth and the bulk ETag against the daemon on the embedded
// default source.
func TestOFREP(t *testing.T) {
	d, tg := startOFREP(t, nil)
	ofreptest.RunHTTP(t, tg)
	testOFREPChange(t, d, tg)
}

// testOFREPChange: an answer computed once per cached copy follows a write.
func testOFREPChange(t *testing.T, d *testDaemon, tg ofreptest.Target) {
	for range 2 {
		if _, a := tg.Eval(t, "on-bool", tg.Token, `{"environment":"production"}`); a.Reason != "STATIC" {
			t.Fatalf("before the write: got %+v, want STATIC", a)
		}
	}
	writer := newClient(t, d.base, client.WithToken("write-token-0123456789"))
	cur, err := writer.Get(context.Background(), "on-bool")
	if err != nil {
		t.Fatal(err)
	}
	def := cur.Definition.Clone()
	def.Environments["production"] = flagcache.Environment{Enabled: false}
	if _, err := writer.Update(context.Background(), def, cur.Version); err != nil {
		t.Fatal(err)
	}
	_, a := tg.Eval(t, "on-bool", tg.Token, `{"environment":"production"}`)
	if a.Reason != "DISABLED" || a.Metadata["version"] != float64(cur.Version+1) {
		t.Errorf("after the write: got %+v, want DISABLED at version %d", a, cur.Version+1)
	}
}

// TestOFREPPostgres runs the same on Postgres with the Redis tier.
func TestOFREPPostgres(t *testing.T) {
	d, tg := startOFREP(t, redisEnv(t, postgresEnv(t)))
	ofreptest.RunHTTP(t, tg)
	testOFREPChange(t, d, tg)
}

// TestOFREPStale: with Postgres stopped, a flag the daemon has cached is
// still evaluated, with metadata.stale true. (The embedded source is in
// the daemon's process: it has no outage to serve through.)
func TestOFREPStale(t *testing.T) {
	pg := pgtest.StartPrivate(t)
	env := redisEnv(t, map[string]string{"FLAGCACHE_SOURCE_KIND": "postgres", "FLAGCACHE_POSTGRES_DSN": pg.DSN})
	if code, _, stderr := runCLI(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, stderr)
	}
	d, tg := startOFREP(t, env)
	if _, a := tg.Eval(t, "on-bool", tg.BoundToken, `{}`); a.Reason != "STATIC" || a.Metadata["stale"] != nil {
		t.Fatalf("before the outage: got %+v, want STATIC and not stale", a)
	}
	s := startSDK(t, d.base, tg.Token)
	if v, err := s.of.StringValue(context.Background(), "string-flag", "", ctxProduction); v != "blue" || err != nil {
		t.Fatalf("provider before the outage: got %q %v", v, err)
	}
	pg.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		// A read the caches cannot answer finds the source down.
		d.do(t, http.MethodGet, "/v1/flags/not-cached", "")
		r, a := tg.Eval(t, "on-bool", tg.BoundToken, `{}`)
		if r.Status == 200 && a.Metadata["stale"] == true {
			if a.Reason != "STATIC" || string(a.Value) != "true" {
				t.Fatalf("stale answer: got %+v, want STATIC true", a)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stale answer within 15s of stopping Postgres: last %d %s", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The provider: the daemon's watch stream cannot read the feed and ends
	// with an error event, so the local cache is no longer coherent; reads
	// go to the daemon, which answers from its cache marked stale.
	s.waitEvent(t, openfeature.ProviderStale, func(openfeature.EventDetails) bool { return true })
	got, err := s.of.StringValueDetails(context.Background(), "string-flag", "", ctxProduction)
	if got.Value != "blue" || got.Reason != ofprovider.StaleReason || got.FlagMetadata["stale"] != true || err != nil {
		t.Errorf("provider with the source down: got %q reason %q metadata %v err %v, want blue, STALE, stale true",
			got.Value, got.Reason, got.FlagMetadata, err)
	}
	// Bulk reads the source: it cannot answer, and says so with a 503.
	if r := tg.Do(t, "/ofrep/v1/evaluate/flags", tg.BoundToken, `{"context":{}}`); r.Status != http.StatusServiceUnavailable {
		t.Errorf("bulk with the source down: got %d %s, want 503", r.Status, r.Body)
	}
}
