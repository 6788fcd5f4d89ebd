package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/wire"
)

// failing is a store whose calls fail with err.
type failing struct {
	flagcache.Store
	err error
}

func (f failing) Get(context.Context, flagcache.ID) (*flagcache.Stored, error) { return nil, f.err }
func (f failing) List(context.Context, flagcache.Query) ([]*flagcache.Stored, error) {
	return nil, f.err
}
func (f failing) Changes(context.Context, int64, int) (*flagcache.ChangeFeed, error) {
	return nil, f.err
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"unavailable", flagcache.Unavailable(errors.New("dial tcp 10.1.2.3:5432: connection refused")), 503, "unavailable"},
		{"deadline", context.DeadlineExceeded, 503, "unavailable"},
		{"not found", flagcache.ErrNotFound, 404, "not_found"},
		{"conflict", &flagcache.VersionConflictError{ID: "a", Expected: 1, Actual: 2}, 412, "version_conflict"},
		{"resync", flagcache.ErrResyncNeeded, 410, "resync_needed"},
		{"invalid", flagcache.Invalid("q", "bad"), 400, "invalid_argument"},
		{"anything else", errors.New("pq: secret detail 10.1.2.3"), 500, "internal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			srv, _ := newServer(t, failing{memstore.New(memstore.Options{}), c.err}, httpapi.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			res, body := get(t, "GET", srv.URL+"/v1/flags")
			if res.StatusCode != c.status || errorCode(t, body) != c.code {
				t.Fatalf("got %d %s, want %d %s", res.StatusCode, body, c.status, c.code)
			}
			if c.status >= 500 {
				if strings.Contains(body, "10.1.2.3") {
					t.Errorf("the cause leaked to the client: %s", body)
				}
				if !strings.Contains(logs.String(), c.err.Error()) || !strings.Contains(logs.String(), res.Header.Get("X-Request-Id")) {
					t.Errorf("the cause and request id are not logged: %s", logs.String())
				}
			}
			if c.status == 503 && res.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

// hitStore reports tiers and serves pre-encoded bodies.
type hitStore struct {
	flagcache.Store
	hit flagcache.Hit
}

func (h hitStore) GetHit(context.Context, flagcache.ID) (flagcache.Hit, error) { return h.hit, nil }

func TestHitReader(t *testing.T) {
	body := []byte(`{"definition":{"id":"a","metadata":{}},"version":3,"etag":"\"v3\"","revision":9,"served":"as is"}`)
	hit := flagcache.Hit{
		Stored: &flagcache.Stored{Definition: &flagcache.Definition{ID: "a"}, Version: 3, Revision: 9},
		Tier:   flagcache.TierLRU, Stale: true, Body: body,
	}
	srv, _ := newServer(t, hitStore{memstore.New(memstore.Options{}), hit}, httpapi.Options{})
	res, got := get(t, "GET", srv.URL+"/v1/flags/a")
	if got != string(body) {
		t.Errorf("got body %s, want Hit.Body as is", got)
	}
	for name, want := range map[string]string{"ETag": `"v3"`, "X-Flagcache-Tier": "lru", "X-Flagcache-Stale": "true", "Content-Type": "application/json"} {
		if res.Header.Get(name) != want {
			t.Errorf("got %s %q, want %q", name, res.Header.Get(name), want)
		}
	}
	res, _ = get(t, "GET", srv.URL+"/v1/flags/a", `If-None-Match: "v3"`)
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("got %d, want 304", res.StatusCode)
	}
}

func TestReadyz(t *testing.T) {
	down := errors.New("connection refused")
	cases := []struct {
		name   string
		store  flagcache.Store
		checks []httpapi.ReadyCheck
		status int
		want   string
	}{
		{"all up", memstore.New(memstore.Options{}), nil, 200, `{"status":"ready","checks":{"source":"up"}}`},
		{"optional redis down", memstore.New(memstore.Options{}),
			[]httpapi.ReadyCheck{{Name: "redis", Check: func(context.Context) error { return down }}}, 200,
			`{"status":"ready","checks":{"redis":"down","source":"up"}}`},
		{"source down", failing{memstore.New(memstore.Options{}), flagcache.Unavailable(down)}, nil, 503,
			`{"status":"not_ready","checks":{"source":"down"}}`},
		{"required check down", memstore.New(memstore.Options{}),
			[]httpapi.ReadyCheck{{Name: "pubsub", Required: true, Check: func(context.Context) error { return down }}}, 503,
			`{"status":"not_ready","checks":{"pubsub":"down","source":"up"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, h := newServer(t, c.store, httpapi.Options{ReadyChecks: c.checks})
			res, body := get(t, "GET", srv.URL+"/readyz")
			if res.StatusCode != c.status || body != c.want {
				t.Fatalf("got %d %s, want %d %s", res.StatusCode, body, c.status, c.want)
			}
			if res, _ := get(t, "GET", srv.URL+"/healthz"); res.StatusCode != 200 {
				t.Errorf("healthz: got %d, want 200", res.StatusCode)
			}
			h.Close()
			if res, _ := get(t, "GET", srv.URL+"/readyz"); res.StatusCode != 503 {
				t.Errorf("readyz after Close: got %d, want 503", res.StatusCode)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	srv, _ := newServer(t, memstore.New(memstore.Options{}), httpapi.Options{})
	cases := []struct{ in, want string }{
		{"trace-42.a:b", "trace-42.a:b"},
		{"has space", ""},
		{strings.Repeat("x", 200), ""},
		{"", ""},
	}
	for _, c := range cases {
		var headers []string
		if c.in != "" {
			headers = append(headers, "X-Request-Id: "+c.in)
		}
		res, _ := get(t, "GET", srv.URL+"/healthz", headers...)
		got := res.Header.Get("X-Request-Id")
		if c.want != "" && got != c.want || c.want == "" && (got == "" || got == c.in) {
			t.Errorf("in %q: got %q, want %q (or a generated id)", c.in, got, c.want)
		}
	}
}

func TestMetrics(t *testing.T) {
	mp, metrics, err := httpapi.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Shutdown(context.Background())
	srv, _ := newServer(t, memstore.New(memstore.Options{}), httpapi.Options{MeterProvider: mp, Metrics: metrics})
	get(t, "GET", srv.URL+"/v1/flags/missing")
	get(t, "GET", srv.URL+"/v1/flags/missing")
	_, body := get(t, "GET", srv.URL+"/metrics")
	for _, want := range []string{
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="404",http_route="/v1/flags/{id}"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

func TestNewHandlerRejectsBadTokens(t *testing.T) {
	for _, tokens := range [][]httpapi.Token{{{Secret: "", Scope: httpapi.ScopeRead}}, {{Secret: "x"}}} {
		if _, err := httpapi.NewHandler(memstore.New(memstore.Options{}), httpapi.Options{Tokens: tokens}); err == nil {
			t.Errorf("NewHandler accepted %v", tokens)
		}
	}
	tok := httpapi.Token{Secret: "hunter2", Scope: httpapi.ScopeWrite}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("t", "token", tok)
	if strings.Contains(logs.String()+tok.String(), "hunter2") {
		t.Errorf("a token formats with its secret: %s %s", logs.String(), tok)
	}
}

func TestTracing(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	srv, _ := newServer(t, memstore.New(memstore.Options{}), httpapi.Options{TracerProvider: tp})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	get(t, "GET", srv.URL+"/v1/flags/missing", "traceparent: 00-"+traceID+"-00f067aa0ba902b7-01")
	spans := recorder.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET /v1/flags/{id}" || s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("got span %q trace %s parent %s, want GET /v1/flags/{id} in the caller's trace", s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	var status int64
	for _, a := range s.Attributes() {
		if a.Key == "http.response.status_code" {
			status = a.Value.AsInt64()
		}
	}
	if status != 404 {
		t.Errorf("got status attribute %d, want 404", status)
	}
}

// blocking is a store whose Get waits for the caller to give up.
type blocking struct {
	flagcache.Store
	entered chan struct{}
}

func (b blocking) Get(ctx context.Context, _ flagcache.ID) (*flagcache.Stored, error) {
	close(b.entered)
	<-ctx.Done()
	return nil, ctx.Err()
}

// A client that goes away is recorded as 499 and gets no error body.
func TestClientGone(t *testing.T) {
	mp, metrics, err := httpapi.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Shutdown(context.Background())
	store := blocking{memstore.New(memstore.Options{}), make(chan struct{})}
	srv, _ := newServer(t, store, httpapi.Options{MeterProvider: mp, Metrics: metrics})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/flags/a", nil)
	go func() { <-store.entered; cancel() }()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request succeeded")
	}
	const want = `http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="499",http_route="/v1/flags/{id}"} 1`
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := get(t, "GET", srv.URL+"/metrics")
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s:\n%s", want, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUncleanPaths: a path with empty, "." or ".." segments gets the JSON
// 404 of an unknown route, not http.ServeMux's redirect with an HTML body.
func TestUncleanPaths(t *testing.T) {
	store := memstore.New(memstore.Options{})
	mustCreate(t, store, "a")
	h, err := httpapi.NewHandler(store, httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"//v1/flags", "/v1/flags/../../etc/passwd", "/v1/./flags/a", "/v1/flags/x/../a", "/v1//changes"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost"+p, nil))
		if rec.Code != 404 || errorCode(t, rec.Body.String()) != "not_found" || rec.Header().Get("Location") != "" {
			t.Errorf("GET %s: got %d %q Location %q, want a 404 not_found", p, rec.Code, rec.Body, rec.Header().Get("Location"))
		}
	}
}

// A batchGet above the handler's cap is a 400 naming the cap, so a client
// can split its batches to it; one at the cap is served.
func TestBatchGetCap(t *testing.T) {
	srv, _ := newServer(t, memstore.New(memstore.Options{}), httpapi.Options{MaxBatch: 2})
	res, body := post(t, srv.URL+"/v1/flags:batchGet", `{"ids":["a","b","c"]}`)
	if res.StatusCode != http.StatusBadRequest || errorCode(t, body) != wire.CodeInvalidArgument || res.Header.Get(wire.MaxBatchHeader) != "2" {
		t.Errorf("3 ids: got %d %s %s %q, want 400 invalid_argument with cap 2", res.StatusCode, body, wire.MaxBatchHeader, res.Header.Get(wire.MaxBatchHeader))
	}
	res, body = post(t, srv.URL+"/v1/flags:batchGet", `{"ids":["a","b"]}`)
	if res.StatusCode != http.StatusOK || res.Header.Get(wire.MaxBatchHeader) != "" {
		t.Errorf("2 ids: got %d %s with %s %q, want 200 without it", res.StatusCode, body, wire.MaxBatchHeader, res.Header.Get(wire.MaxBatchHeader))
	}
}

// The debug log of a request gives its duration as a duration ("1.2ms"),
// under any handler, not as nanoseconds.
func TestRequestLogDuration(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, _ := newServer(t, memstore.New(memstore.Options{}), httpapi.Options{Logger: log})
	get(t, "GET", srv.URL+"/v1/flags")
	var line struct {
		Msg      string
		Duration any
	}
	if err := json.Unmarshal(bytes.TrimSpace(logs.Bytes()), &line); err != nil || line.Msg != "request" {
		t.Fatalf("got log %q (%v), want one request line", logs.String(), err)
	}
	if s, ok := line.Duration.(string); !ok {
		t.Errorf("duration logged as %v (%T), want a duration such as \"1.2ms\"", line.Duration, line.Duration)
	} else if _, err := time.ParseDuration(s); err != nil {
		t.Errorf("duration %q: %v", s, err)
	}
}
