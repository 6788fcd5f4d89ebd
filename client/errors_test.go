package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
)

// fakeServer answers every request with status and body, counting them.
func fakeServer(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("X-Request-Id", "req-1")
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Each error response maps back to what the code means in flagcache.
func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   error // nil: an *client.Error matching no sentinel
	}{
		{"not found", 404, `{"error":{"code":"not_found","message":"flag \"x\" not found"}}`, flagcache.ErrNotFound},
		{"already exists", 409, `{"error":{"code":"already_exists","message":"flag \"x\" already exists"}}`, flagcache.ErrAlreadyExists},
		{"invalid", 400, `{"error":{"code":"invalid_argument","message":"invalid name: required","field":"name"}}`, flagcache.ErrInvalidArgument},
		{"too large", 413, `{"error":{"code":"payload_too_large","message":"request body is larger than 10 bytes"}}`, flagcache.ErrInvalidArgument},
		{"conflict", 412, `{"error":{"code":"version_conflict","message":"version conflict","expected":3,"actual":5}}`, flagcache.ErrVersionConflict},
		{"unauthenticated", 401, `{"error":{"code":"unauthenticated","message":"missing bearer token"}}`, flagcache.ErrUnauthenticated},
		{"permission denied", 403, `{"error":{"code":"permission_denied","message":"this token has scope read"}}`, flagcache.ErrPermissionDenied},
		{"resync needed", 410, `{"error":{"code":"resync_needed","message":"change cursor expired"}}`, flagcache.ErrResyncNeeded},
		{"unavailable", 503, `{"error":{"code":"unavailable","message":"the flag source is unavailable"}}`, flagcache.ErrUnavailable},
		{"internal", 500, `{"error":{"code":"internal","message":"internal error"}}`, nil},
		{"bare 401 from a proxy", 401, "", flagcache.ErrUnauthenticated},
		{"bare 502 from a proxy", 502, "<html>bad gateway</html>", flagcache.ErrUnavailable},
		{"bare 404: not a flagcache daemon", 404, "404 page not found", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeServer(t, tc.status, tc.body)
			c := newClient(t, srv.URL, client.WithRetries(0))
			_, err := c.Update(ctxFor(t), boolFlag(t, "x"), 3)
			var apiErr *client.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %T %v, want a *client.Error", err, err)
			}
			if apiErr.Status != tc.status || apiErr.RequestID != "req-1" {
				t.Errorf("got status %d request id %q, want %d req-1", apiErr.Status, apiErr.RequestID, tc.status)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want it to match %v", err, tc.want)
			}
			if tc.want == nil {
				for _, s := range []error{flagcache.ErrNotFound, flagcache.ErrUnavailable, flagcache.ErrInvalidArgument} {
					if errors.Is(err, s) {
						t.Errorf("got %v matching %v, want no sentinel", err, s)
					}
				}
			}
		})
	}
}

func TestErrorDetailsRoundTrip(t *testing.T) {
	srv := startDaemon(t, memstore.New(memstore.Options{}), httpapi.Options{MaxBodyBytes: 400})
	c := newClient(t, srv.URL)
	ctx := ctxFor(t)
	mustCreate(t, c, "f")
	if _, err := c.Update(ctx, boolFlag(t, "f"), 0); err != nil {
		t.Fatal(err)
	}

	_, err := c.Update(ctx, boolFlag(t, "f"), 1)
	var vc *flagcache.VersionConflictError
	if !errors.As(err, &vc) || vc.ID != "f" || vc.Expected != 1 || vc.Actual != 2 {
		t.Errorf("stale update: got %v (%+v), want a conflict on f expecting 1, actual 2", err, vc)
	}
	_, err = c.Delete(ctx, "f", 1)
	if !errors.As(err, &vc) || vc.Expected != 1 || vc.Actual != 2 {
		t.Errorf("stale delete: got %v, want a conflict expecting 1, actual 2", err)
	}

	big := boolFlag(t, "big")
	big.Description = strings.Repeat("x", 500)
	_, err = c.Create(ctx, big)
	var inv *flagcache.InvalidError
	if !errors.As(err, &inv) || inv.Field != "body" {
		t.Errorf("oversized create: got %v, want an *InvalidError on body", err)
	}

	_, err = c.Get(ctx, "nope")
	if !errors.Is(err, flagcache.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Get of a missing flag: got %v, want ErrNotFound naming it", err)
	}
}

func TestAuth(t *testing.T) {
	srv := startDaemon(t, memstore.New(memstore.Options{}), httpapi.Options{Tokens: []httpapi.Token{
		{Secret: "reader", Scope: httpapi.ScopeRead}, {Secret: "writer", Scope: httpapi.ScopeWrite},
	}})
	ctx := ctxFor(t)
	if _, err := newClient(t, srv.URL).Count(ctx, flagcache.Query{}); !errors.Is(err, flagcache.ErrUnauthenticated) {
		t.Errorf("no token: got %v, want ErrUnauthenticated", err)
	}
	if _, err := newClient(t, srv.URL, client.WithToken("wrong")).Exists(ctx, "x"); !errors.Is(err, flagcache.ErrUnauthenticated) {
		t.Errorf("wrong token on HEAD: got %v, want ErrUnauthenticated", err)
	}
	reader := newClient(t, srv.URL, client.WithToken("reader"))
	if _, err := reader.Create(ctx, boolFlag(t, "x")); !errors.Is(err, flagcache.ErrPermissionDenied) {
		t.Errorf("read token writing: got %v, want ErrPermissionDenied", err)
	}
	mustCreate(t, newClient(t, srv.URL, client.WithToken("writer")), "x")
	if _, err := reader.Get(ctx, "x"); err != nil {
		t.Errorf("read token reading: %v", err)
	}
}

// Reads are retried on 503 with backoff; writes never are.
func TestRetries(t *testing.T) {
	srv, n := fakeServer(t, 503, `{"error":{"code":"unavailable","message":"down"}}`)
	c := newClient(t, srv.URL, client.WithRetries(3), client.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if _, err := c.List(ctxFor(t), flagcache.Query{}); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Fatalf("List: got %v, want ErrUnavailable", err)
	}
	if got := n.Load(); got != 4 {
		t.Errorf("List: %d attempts, want 1 + 3 retries", got)
	}
	n.Store(0)
	_, err := c.Create(ctxFor(t), boolFlag(t, "x"))
	if !errors.Is(err, flagcache.ErrUnavailable) || errors.Is(err, client.ErrOutcomeUnknown) {
		t.Errorf("Create: got %v, want ErrUnavailable with a known outcome", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("Create: %d attempts, want 1", got)
	}
}

func TestRetryRecovers(t *testing.T) {
	inner := startDaemon(t, memstore.New(memstore.Options{}), httpapi.Options{})
	var fails atomic.Int64
	fails.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		inner.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, client.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if n, err := c.Count(ctxFor(t), flagcache.Query{}); err != nil || n != 0 {
		t.Errorf("Count after two 503s: got %d, %v; want 0, nil", n, err)
	}
}

// A write whose connection breaks after it was sent has an unknown
// outcome; one that could not connect at all has not happened.
func TestOutcomeUnknown(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // read the request, answer nothing
		}
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	_, err := c.Update(ctxFor(t), boolFlag(t, "x"), 1)
	if !errors.Is(err, client.ErrOutcomeUnknown) || !errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("Update on a broken connection: got %v, want ErrOutcomeUnknown and ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "outcome unknown") {
		t.Errorf("the message does not say the outcome is unknown: %v", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d attempts of the write, want 1", got)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	c = newClient(t, closed, client.WithRetries(0))
	_, err = c.Create(ctxFor(t), boolFlag(t, "x"))
	if !errors.Is(err, flagcache.ErrUnavailable) || errors.Is(err, client.ErrOutcomeUnknown) {
		t.Errorf("Create with nothing listening: got %v, want ErrUnavailable with a known outcome", err)
	}
	if _, err := c.Get(ctxFor(t), "x"); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("Get with nothing listening: got %v, want ErrUnavailable", err)
	}
}

func TestContextCancelled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := newClient(t, srv.URL)
	for name, call := range map[string]func(ctx context.Context) error{
		"Get":    func(ctx context.Context) error { _, err := c.Get(ctx, "x"); return err },
		"Update": func(ctx context.Context) error { _, err := c.Update(ctx, boolFlag(t, "x"), 1); return err },
	} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		if err := call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled in flight: got %v, want context.Canceled", name, err)
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := newClient(t, srv.URL, client.WithTimeout(30*time.Millisecond), client.WithRetries(1), client.WithBackoff(time.Millisecond, time.Millisecond))
	start := time.Now()
	if _, err := c.Get(ctxFor(t), "x"); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("Get past the timeout: got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Get took %v with a 30ms timeout", d)
	}
	_, err := c.Update(ctxFor(t), boolFlag(t, "x"), 0)
	if !errors.Is(err, client.ErrOutcomeUnknown) {
		t.Errorf("Update past the timeout: got %v, want ErrOutcomeUnknown", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts []client.Option
	}{
		{"127.0.0.1:8080", nil},
		{"ftp://host", nil},
		{"http://", nil},
		{"http://host/?x=1", nil},
		{"http://host", []client.Option{client.WithLocalCache(0)}},
		{"http://host", []client.Option{client.WithTimeout(0)}},
		{"http://host", []client.Option{client.WithRetries(-1)}},
		{"http://host", []client.Option{client.WithToken("a\nb")}},
	} {
		if c, err := client.New(tc.url, tc.opts...); err == nil {
			c.Close()
			t.Errorf("New(%q, %d options) succeeded, want an error", tc.url, len(tc.opts))
		}
	}
}
