package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

// fastPathRequest is one request of TestFastPathAsMux, sent as raw HTTP
// so that paths, methods and Host values reach the server as written.
type fastPathRequest struct {
	name    string
	method  string
	target  string // the request target, as sent
	host    string // default 127.0.0.1
	headers []string
}

// TestFastPathAsMux sends each request through the GET fast path and
// through the mux alone (the fast path off), to handlers over the same
// store, and wants the same answer: status, headers (but Date), body, the
// request's measurement and its access log line.
func TestFastPathAsMux(t *testing.T) {
	// Each handler gets a store of its own, so both paths see the same
	// tiers: the first read of a flag from the source, the next from the
	// LRU.
	store := func(t *testing.T) flagcache.Store {
		src := memstore.New(memstore.Options{Now: func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }})
		mustCreate(t, src, "new-checkout")
		mustCreate(t, src, "a:b.c_d-e")
		if err := src.WriteRaw(context.Background(), "odd", []byte(`{"id":"odd","name":7}`)); err != nil {
			t.Fatal(err)
		}
		ts := tiered.New(src, tiered.Options{LRUSize: 100})
		t.Cleanup(func() { ts.Close() })
		return ts
	}
	stale := func(*testing.T) flagcache.Store {
		return hitStore{memstore.New(memstore.Options{}), flagcache.Hit{
			Stored: &flagcache.Stored{Definition: &flagcache.Definition{ID: "s"}, Version: 4, Revision: 9},
			Tier:   flagcache.TierRedis, Stale: true, Body: []byte(`{"definition":{"id":"s"},"version":4}`),
		}}
	}
	tokens := []httpapi.Token{{Secret: "read-secret-0123456789", Scope: httpapi.ScopeRead}, {Secret: "write-secret-0123456789", Scope: httpapi.ScopeWrite}}
	const read, write = "Authorization: Bearer read-secret-0123456789", "Authorization: Bearer write-secret-0123456789"

	anon := []fastPathRequest{
		{name: "hit", method: "GET", target: "/v1/flags/new-checkout"},
		{name: "hit again", method: "GET", target: "/v1/flags/new-checkout"},
		{name: "id of every character class", method: "GET", target: "/v1/flags/a:b.c_d-e"},
		{name: "served as stored", method: "GET", target: "/v1/flags/odd"},
		{name: "not found", method: "GET", target: "/v1/flags/missing"},
		{name: "not found again", method: "GET", target: "/v1/flags/missing"},
		{name: "HEAD", method: "HEAD", target: "/v1/flags/new-checkout"},
		{name: "HEAD not found", method: "HEAD", target: "/v1/flags/missing"},
		{name: "query string", method: "GET", target: "/v1/flags/new-checkout?x=1"},
		{name: "caller's request id", method: "GET", target: "/v1/flags/new-checkout", headers: []string{"X-Request-Id: abc-123"}},
		{name: "unsafe request id", method: "GET", target: "/v1/flags/new-checkout", headers: []string{"X-Request-Id: a b"}},
		{name: "If-None-Match matches", method: "GET", target: "/v1/flags/new-checkout", headers: []string{`If-None-Match: "v1"`}},
		{name: "If-None-Match weak", method: "GET", target: "/v1/flags/new-checkout", headers: []string{`If-None-Match: W/"v1"`}},
		{name: "If-None-Match star", method: "GET", target: "/v1/flags/new-checkout", headers: []string{"If-None-Match: *"}},
		{name: "If-None-Match list", method: "GET", target: "/v1/flags/new-checkout", headers: []string{`If-None-Match: "v7", "v1"`}},
		{name: "If-None-Match other", method: "GET", target: "/v1/flags/new-checkout", headers: []string{`If-None-Match: "v2"`}},
		{name: "If-None-Match not ours", method: "GET", target: "/v1/flags/new-checkout", headers: []string{`If-None-Match: "abc"`}},
		{name: "HEAD If-None-Match", method: "HEAD", target: "/v1/flags/new-checkout", headers: []string{`If-None-Match: "v1"`}},
		{name: "escaped letter", method: "GET", target: "/v1/flags/new%2Dcheckout"},
		{name: "escaped slash", method: "GET", target: "/v1/flags/new%2Fcheckout"},
		{name: "escaped prefix", method: "GET", target: "/v1/%66lags/new-checkout"},
		{name: "trailing slash", method: "GET", target: "/v1/flags/new-checkout/"},
		{name: "two segments", method: "GET", target: "/v1/flags/new-checkout/x"},
		{name: "history", method: "GET", target: "/v1/flags/new-checkout/history"},
		{name: "empty id", method: "GET", target: "/v1/flags/"},
		{name: "double slash", method: "GET", target: "/v1/flags//new-checkout"},
		{name: "dot segment", method: "GET", target: "/v1/flags/x/../new-checkout"},
		{name: "dot id", method: "GET", target: "/v1/flags/.x"},
		{name: "invalid id", method: "GET", target: "/v1/flags/a*b"},
		{name: "id too long", method: "GET", target: "/v1/flags/" + strings.Repeat("a", 257)},
		{name: "collection", method: "GET", target: "/v1/flags"},
		{name: "count", method: "GET", target: "/v1/flags:count"},
		{name: "POST", method: "POST", target: "/v1/flags/new-checkout"},
		{name: "PUT without body", method: "PUT", target: "/v1/flags/new-checkout"},
		{name: "DELETE of another version", method: "DELETE", target: "/v1/flags/new-checkout", headers: []string{`If-Match: "v9"`}},
		{name: "PATCH", method: "PATCH", target: "/v1/flags/new-checkout"},
		{name: "OPTIONS", method: "OPTIONS", target: "/v1/flags/new-checkout"},
		{name: "lower-case get", method: "get", target: "/v1/flags/new-checkout"},
		{name: "Host localhost", method: "GET", target: "/v1/flags/new-checkout", host: "localhost:8080"},
		{name: "Host [::1]", method: "GET", target: "/v1/flags/new-checkout", host: "[::1]:8080"},
		{name: "Host allowed", method: "GET", target: "/v1/flags/new-checkout", host: "flags.internal"},
		{name: "Host foreign", method: "GET", target: "/v1/flags/new-checkout", host: "evil.example"},
		{name: "Host foreign HEAD", method: "HEAD", target: "/v1/flags/new-checkout", host: "evil.example"},
		{name: "Host foreign not found", method: "GET", target: "/v1/flags/missing", host: "evil.example"},
		{name: "Host rebinding", method: "GET", target: "/v1/flags/new-checkout", host: "127.0.0.1.evil.example"},
		{name: "absolute form", method: "GET", target: "http://evil.example/v1/flags/new-checkout"},
	}
	authed := []fastPathRequest{
		{name: "no token", method: "GET", target: "/v1/flags/new-checkout"},
		{name: "no token HEAD", method: "HEAD", target: "/v1/flags/new-checkout"},
		{name: "no token not found", method: "GET", target: "/v1/flags/missing"},
		{name: "wrong token", method: "GET", target: "/v1/flags/new-checkout", headers: []string{"Authorization: Bearer nope"}},
		{name: "not bearer", method: "GET", target: "/v1/flags/new-checkout", headers: []string{"Authorization: Basic cmVhZA=="}},
		{name: "read token", method: "GET", target: "/v1/flags/new-checkout", headers: []string{read}},
		{name: "read token, lower-case scheme", method: "GET", target: "/v1/flags/new-checkout", headers: []string{"Authorization: bearer read-secret-0123456789"}},
		{name: "write token", method: "GET", target: "/v1/flags/new-checkout", headers: []string{write}},
		{name: "read token not found", method: "GET", target: "/v1/flags/missing", headers: []string{read}},
		{name: "read token If-None-Match", method: "GET", target: "/v1/flags/new-checkout", headers: []string{read, `If-None-Match: "v1"`}},
		{name: "read token foreign Host", method: "GET", target: "/v1/flags/new-checkout", host: "flags.example.com", headers: []string{read}},
		{name: "read token PUT (scope)", method: "PUT", target: "/v1/flags/new-checkout", headers: []string{read}},
		{name: "read token DELETE (scope)", method: "DELETE", target: "/v1/flags/new-checkout", headers: []string{read}},
		{name: "no token healthz", method: "GET", target: "/healthz"},
	}
	for _, c := range []struct {
		name     string
		store    func(*testing.T) flagcache.Store
		opts     httpapi.Options
		requests []fastPathRequest
	}{
		{"without tokens", store, httpapi.Options{AllowedHosts: []string{"flags.internal"}}, anon},
		{"with tokens", store, httpapi.Options{Tokens: tokens}, authed},
		{"stale hit", stale, httpapi.Options{}, []fastPathRequest{
			{name: "stale", method: "GET", target: "/v1/flags/s"},
			{name: "stale If-None-Match", method: "GET", target: "/v1/flags/s", headers: []string{`If-None-Match: "v4"`}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fast := serveBothWays(t, c.store(t), c.opts, true, c.requests)
			slow := serveBothWays(t, c.store(t), c.opts, false, c.requests)
			for i, req := range c.requests {
				if fast.answers[i] != slow.answers[i] {
					t.Errorf("%s %s %s: the fast path answered\n%s\nthe mux\n%s", req.name, req.method, req.target, fast.answers[i], slow.answers[i])
				}
				if fast.logs[i] != slow.logs[i] {
					t.Errorf("%s: the fast path logged\n%s\nthe mux\n%s", req.name, fast.logs[i], slow.logs[i])
				}
			}
			if !slices.Equal(fast.metrics, slow.metrics) {
				t.Errorf("measured by the fast path:\n%s\nby the mux:\n%s", strings.Join(fast.metrics, "\n"), strings.Join(slow.metrics, "\n"))
			}
		})
	}
}

// servedBothWays is what serveBothWays saw: each request's answer and
// log lines, and the request measurements.
type servedBothWays struct {
	answers, logs []string
	metrics       []string // "method route status: count"
}

// serveBothWays serves requests through a new Handler over store with the
// fast path on or off, and returns what each request got.
func serveBothWays(t *testing.T, store flagcache.Store, opts httpapi.Options, fast bool, requests []fastPathRequest) servedBothWays {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	var logs bytes.Buffer
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.MeterProvider = mp
	h, err := httpapi.NewHandler(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	httpapi.SetFastPath(h, fast)
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()

	var out servedBothWays
	for i, req := range requests {
		logs.Reset()
		host := req.host
		if host == "" {
			host = "127.0.0.1"
		}
		raw := req.method + " " + req.target + " HTTP/1.1\r\nHost: " + host + "\r\n"
		for _, hdr := range req.headers {
			raw += hdr + "\r\n"
		}
		if !slices.ContainsFunc(req.headers, func(h string) bool { return strings.HasPrefix(h, "X-Request-Id:") }) {
			raw += fmt.Sprintf("X-Request-Id: req-%d\r\n", i) // the same id on both paths
		}
		answer := rawRoundTrip(t, srv.Listener.Addr().String(), raw+"Connection: close\r\n\r\n")
		out.answers = append(out.answers, madeID.ReplaceAllString(answer, "<made>"))
		out.logs = append(out.logs, madeID.ReplaceAllString(logLines(t, logs.Bytes()), "<made>"))
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			hist, ok := m.Data.(metricdata.Histogram[float64])
			if !ok || m.Name != "http.server.request.duration" {
				continue
			}
			for _, dp := range hist.DataPoints {
				method, _ := dp.Attributes.Value("http.request.method")
				route, _ := dp.Attributes.Value("http.route")
				status, _ := dp.Attributes.Value("http.response.status_code")
				out.metrics = append(out.metrics, fmt.Sprintf("%s %s %d: %d", method.AsString(), route.AsString(), status.AsInt64(), dp.Count))
			}
		}
	}
	slices.Sort(out.metrics)
	if len(out.metrics) == 0 {
		t.Fatal("no request was measured")
	}
	return out
}

// madeID matches a request id the handler made (the caller sent none it
// keeps): a counter, so different on each handler.
var madeID = regexp.MustCompile(`\b[0-9a-f]{24}\b`)

// rawRoundTrip sends raw on a connection of its own and returns the response
// as status line, headers (sorted, without Date) and body.
func rawRoundTrip(t *testing.T, addr, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := bytes.Cut(all, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	hdrs := slices.DeleteFunc(lines[1:], func(l string) bool { return strings.HasPrefix(l, "Date:") })
	slices.Sort(hdrs)
	return lines[0] + "\n" + strings.Join(hdrs, "\n") + "\n\n" + string(body)
}

// logLines returns the JSON log records of one request without their time
// and duration, one a line.
func logLines(t *testing.T, b []byte) string {
	t.Helper()
	var out []string
	for line := range bytes.Lines(b) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		delete(rec, "time")
		delete(rec, "duration")
		enc, _ := json.Marshal(rec) // sorted keys
		out = append(out, string(enc))
	}
	return strings.Join(out, "\n")
}

// TestFastPathTaken checks that the fast path is the one serving a GET
// hit, by what it exists to save: the mux's request copy and match.
func TestFastPathTaken(t *testing.T) {
	src := memstore.New(memstore.Options{})
	mustCreate(t, src, "new-checkout")
	ts := tiered.New(src, tiered.Options{LRUSize: 100})
	t.Cleanup(func() { ts.Close() })
	h, err := httpapi.NewHandler(ts, httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	req := httptest.NewRequest("GET", "http://localhost/v1/flags/new-checkout", nil)
	for deadline := time.Now().Add(10 * time.Second); ; { // the LRU caches once the store has its first revision
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Header().Get("X-Flagcache-Tier") == "lru" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no LRU hit after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	allocs := func(fast bool) float64 {
		httpapi.SetFastPath(h, fast)
		return testing.AllocsPerRun(100, func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 || w.Header().Get("X-Flagcache-Tier") != "lru" {
				t.Fatalf("got %d from %s, want 200 from the LRU", w.Code, w.Header().Get("X-Flagcache-Tier"))
			}
		})
	}
	if fast, mux := allocs(true), allocs(false); fast >= mux {
		t.Errorf("got %.0f allocations per GET on the fast path, %.0f through the mux: the fast path is not taken", fast, mux)
	}
}
