package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

// benchGet measures GET /v1/flags/{id} through the handler alone (no
// network): the cost the HTTP layer adds to a store read.
func benchGet(b *testing.B, store flagcache.Store, opts httpapi.Options) {
	h, err := httpapi.NewHandler(store, opts)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://localhost/v1/flags/new-checkout", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("got %d", w.Code)
		}
	}
}

// An LRU hit of the tiered store: the pre-encoded body is served as is.
func BenchmarkGetFlagPreEncoded(b *testing.B) {
	s := memstore.New(memstore.Options{})
	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	stored, _ := s.Create(context.Background(), def)
	body, _ := json.Marshal(stored)
	benchGet(b, hitStore{s, flagcache.Hit{Stored: stored, Tier: flagcache.TierLRU, Body: body}}, httpapi.Options{})
}

// A store without HitReader: Get, then JSON encoding per request.
func BenchmarkGetFlagEncoded(b *testing.B) {
	s := memstore.New(memstore.Options{})
	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	s.Create(context.Background(), def)
	benchGet(b, s, httpapi.Options{})
}

// With a token to check (two SHA-256 sums' worth of work per request).
func BenchmarkGetFlagPreEncodedWithAuth(b *testing.B) {
	s := memstore.New(memstore.Options{})
	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	stored, _ := s.Create(context.Background(), def)
	body, _ := json.Marshal(stored)
	h, _ := httpapi.NewHandler(hitStore{s, flagcache.Hit{Stored: stored, Tier: flagcache.TierLRU, Body: body}},
		httpapi.Options{Tokens: []httpapi.Token{{Secret: "read-secret", Scope: httpapi.ScopeRead}, {Secret: "write-secret", Scope: httpapi.ScopeWrite}}})
	req := httptest.NewRequest("GET", "http://localhost/v1/flags/new-checkout", nil)
	req.Header.Set("Authorization", "Bearer read-secret")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("got %d", w.Code)
		}
	}
}

// The daemon's GET of an LRU hit as `flagcache serve` composes it: the
// tiered store over memstore, Prometheus metrics on both, a JSON logger at
// info. The request path's own cost (routing, request id, auth, metrics,
// headers, logging) beside the body it serves:
//
//	go test -run '^$' -bench GetFlagDaemon -benchmem ./httpapi/
func BenchmarkGetFlagDaemon(b *testing.B) {
	mp, _, err := httpapi.NewPrometheus()
	if err != nil {
		b.Fatal(err)
	}
	defer mp.Shutdown(context.Background())
	src := memstore.New(memstore.Options{})
	ts := tiered.New(src, tiered.Options{MeterProvider: mp})
	defer ts.Close()
	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	if _, err := ts.Create(context.Background(), def); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	benchGet(b, ts, httpapi.Options{Logger: log, MeterProvider: mp})
}
