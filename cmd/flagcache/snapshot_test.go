package main

import (
	"maps"
	"path/filepath"
	"testing"
)

// A daemon restarted while its Postgres is down (and with no Redis to
// fall back on) serves the flags it held before, from its snapshot,
// marked stale — not 503.
func TestRestartWithEverythingDownServesSnapshot(t *testing.T) {
	env := postgresEnv(t)
	env["FLAGCACHE_CACHE_SNAPSHOT_PATH"] = filepath.Join(t.TempDir(), "flagcache.snapshot")
	first := startServe(t, env)
	if r := first.do(t, "POST", "/v1/flags", `{"id":"kept","name":"Kept","kind":"boolean","default_value":true}`); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if code := first.stop(); code != 0 { // writes the snapshot
		t.Fatalf("the first daemon exited with %d", code)
	}

	down := maps.Clone(env)
	down["FLAGCACHE_POSTGRES_DSN"] = "postgres://postgres@127.0.0.1:1/test?connect_timeout=1"
	restarted := startServe(t, down)
	r := restarted.do(t, "GET", "/v1/flags/kept", "")
	if r.status != 200 || r.header.Get("X-Flagcache-Stale") != "true" {
		t.Fatalf("GET with the source down after a restart: %d stale=%q %s, want 200 marked stale", r.status, r.header.Get("X-Flagcache-Stale"), r.body)
	}
	if r := restarted.do(t, "GET", "/v1/flags/never-held", ""); r.status != 503 {
		t.Errorf("a flag the snapshot does not hold: %d %s, want 503", r.status, r.body)
	}
	restarted.waitMetrics(t, `flagcache_snapshot_loaded 1`, `flagcache_revision_current 0`)
}
