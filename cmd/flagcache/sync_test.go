package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFailingRepairsNotReady: a daemon whose repairs from the change feed
// keep failing while the source still answers single reads says so on
// /readyz (the "sync" check) and in flagcache_repair_failures_total, and
// is ready again, serving the write it could not follow, once the feed
// reads again. The feed is broken from outside: another writer renames
// the history table the feed's query joins, and writes a flag by plain
// SQL (its history trigger off), which notifies the daemon.
func TestFailingRepairsNotReady(t *testing.T) {
	env := postgresEnv(t)
	d := startServe(t, env)
	want(t, d.do(t, "POST", "/v1/flags", `{"id":"followed","name":"before","kind":"boolean","default_value":false}`, "Content-Type: application/json"), 201, "")
	want(t, d.do(t, "GET", "/v1/flags/followed", ""), 200, "")

	sql := mustSQL(t, env)
	exec := func(stmt string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := sql.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	exec(`ALTER TABLE feature_flags DISABLE TRIGGER feature_flags_history`)
	exec(`ALTER TABLE flagcache_history RENAME TO flagcache_history_away`)
	exec(`UPDATE feature_flags SET definition = jsonb_set(definition, '{name}', '"after"') WHERE id = 'followed'`)

	// Three failures in a row, with the backoff from 1 s between them.
	deadline := time.Now().Add(30 * time.Second)
	var r response
	for {
		r = d.do(t, "GET", "/readyz", "")
		if r.status == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d %s 30 s after the feed broke", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(string(r.body), `"sync":"down"`) || !strings.Contains(string(r.body), `"source":"up"`) {
		t.Fatalf("readyz: got %s, want sync down and the source up", r.body)
	}
	if n := repairFailures(t, d); n < 3 {
		t.Fatalf("flagcache_repair_failures_total = %d while not ready, want >= 3", n)
	}

	exec(`ALTER TABLE flagcache_history_away RENAME TO flagcache_history`)
	exec(`ALTER TABLE feature_flags ENABLE TRIGGER feature_flags_history`)
	deadline = time.Now().Add(45 * time.Second) // the backoff may have grown to 30 s
	for {
		r = d.do(t, "GET", "/readyz", "")
		g := d.do(t, "GET", "/v1/flags/followed", "")
		if r.status == 200 && strings.Contains(string(g.body), `"name":"after"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("45 s after the feed was mended: readyz %d %s, flag %s", r.status, r.body, g.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var repairFailuresLine = regexp.MustCompile(`(?m)^flagcache_repair_failures_total(?:\{[^}]*\})? (\d+)`)

func repairFailures(t *testing.T, d *testDaemon) int {
	t.Helper()
	m := repairFailuresLine.FindSubmatch(d.do(t, "GET", "/metrics", "").body)
	if m == nil {
		t.Fatal("/metrics has no flagcache_repair_failures_total")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
