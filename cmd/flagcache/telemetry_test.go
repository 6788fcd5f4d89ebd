package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache/internal/config"
)

// scrape returns the daemon's /metrics.
func (d *testDaemon) scrape(t *testing.T) string {
	t.Helper()
	res, err := d.client.Get(d.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", res.StatusCode, err)
	}
	return string(b)
}

// waitMetrics scrapes until every pattern matches a line of /metrics.
func (d *testDaemon) waitMetrics(t *testing.T, patterns ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body := d.scrape(t)
		var missing []string
		for _, p := range patterns {
			if !regexp.MustCompile(`(?m)^` + p + `$`).MatchString(body) {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q after 10s:\n%s", missing, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemonMetrics: /metrics of a running daemon (embedded source, Redis
// cache) names the service in target_info and carries the build, the
// breaker state, the open watch streams and the applied revision with its
// lag; a watch stream is not a latency sample, and the request counter
// that duplicated the histogram's _count is gone.
func TestDaemonMetrics(t *testing.T) {
	d := startServe(t, redisEnv(t, map[string]string{}))
	if r := d.do(t, "POST", "/v1/flags", `{"id":"m1","name":"M","kind":"boolean","default_value":false}`); r.status != 201 {
		t.Fatalf("create: got %d %s", r.status, r.body)
	}
	w := d.watch(t, "?after=0")
	b := currentBuild()
	q := regexp.QuoteMeta
	body := d.waitMetrics(t,
		`target_info\{.*service_instance_id="[0-9a-f-]{36}".*\} 1`,
		`target_info\{.*service_name="flagcache".*\} 1`,
		`target_info\{.*service_version="`+q(b.Version)+`".*\} 1`,
		`flagcache_build_info\{commit="`+q(b.Commit)+`",go_version="`+q(b.GoVersion)+`",version="`+q(b.Version)+`"\} 1`,
		`flagcache_redis_breaker_state\{state="closed"\} 1`,
		`flagcache_redis_breaker_state\{state="open"\} 0`,
		`flagcache_watch_streams 1`,
		`flagcache_revision_applied 1`,
		`flagcache_revision_source 1`,
		`flagcache_revision_lag 0`,
		`flagcache_revision_current 1`,
		`flagcache_snapshot_loaded 0`,
		`flagcache_snapshot_writes_total 0`,
		`http_server_request_duration_seconds_count\{http_request_method="POST",http_response_status_code="201",http_route="/v1/flags"\} 1`,
	)
	if strings.Contains(body, "flagcache_http_requests_total") {
		t.Errorf("flagcache_http_requests_total is still exported:\n%s", body)
	}
	if strings.Contains(body, "unknown_service") {
		t.Errorf("target_info names an unknown service:\n%s", body)
	}

	w.cancel()
	<-w.ended
	body = d.waitMetrics(t, `flagcache_watch_streams 0`)
	if strings.Contains(body, `http_route="/v1/watch"`) {
		t.Errorf("the watch stream was recorded as a request:\n%s", body)
	}
}

// TestStartupLog: the startup log shows the settings by their file names
// with durations as durations, not nanoseconds.
func TestStartupLog(t *testing.T) {
	d := startServe(t, nil)
	for _, line := range strings.Split(d.logs.String(), "\n") {
		var l struct {
			Msg    string
			Config struct {
				Server map[string]any
			}
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "listening" {
			continue
		}
		if got := l.Config.Server["shutdown_timeout"]; got != "15s" {
			t.Errorf("server.shutdown_timeout logged as %v (%T), want \"15s\":\n%s", got, got, line)
		}
		if got := l.Config.Server["watch_poll"]; got != "250ms" {
			t.Errorf("server.watch_poll logged as %v, want \"250ms\"", got)
		}
		return
	}
	t.Fatalf("no listening line:\n%s", d.logs.String())
}

// Every duration the JSON log writes is text ("1.5s"), as in the text log,
// not nanoseconds.
func TestLogDurations(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf strings.Builder
		log := newLogger(config.Log{Level: "info", Format: format}, &cli{stderr: &buf})
		log.Info("retrying", slog.Duration("retry_in", 1500*time.Millisecond))
		if want := map[string]string{"json": `"retry_in":"1.5s"`, "text": "retry_in=1.5s"}[format]; !strings.Contains(buf.String(), want) {
			t.Errorf("%s log %q, want %s", format, buf.String(), want)
		}
	}
}
