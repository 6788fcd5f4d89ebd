package ofprovider_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/ofreptest"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/ofprovider"
	"github.com/flagcache/flagcache/ofrep"
	"github.com/flagcache/flagcache/tiered"
)

// server is the API with the OFREP endpoints over the daemon's default
// composition (tiered: LRU over the source; memstore as the source), on a
// loopback port.
func server(b *testing.B) *httptest.Server {
	b.Helper()
	store := tiered.New(memstore.New(memstore.Options{}), tiered.Options{})
	b.Cleanup(func() { store.Close() })
	if err := ofreptest.Seed(context.Background(), store); err != nil {
		b.Fatal(err)
	}
	api, err := httpapi.NewHandler(store, httpapi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := ofrep.NewHandler(store, ofrep.Options{DefaultEnvironment: ofreptest.Env})
	if err != nil {
		b.Fatal(err)
	}
	api.MountOFREP(h)
	srv := httptest.NewServer(api)
	b.Cleanup(func() { api.Close(); srv.Close() })
	return srv
}

func post(b *testing.B, hc *http.Client, url, body string) {
	res, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("POST %s: %d", url, res.StatusCode)
	}
}

// BenchmarkLoopback compares, on one server over loopback, an OFREP
// single evaluation with the GET of the same flag.
func BenchmarkLoopback(b *testing.B) {
	srv := server(b)
	hc := srv.Client()
	b.Run("GET", func(b *testing.B) {
		for b.Loop() {
			res, err := hc.Get(srv.URL + "/v1/flags/on-bool")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	b.Run("OFREP", func(b *testing.B) {
		for b.Loop() {
			post(b, hc, srv.URL+"/ofrep/v1/evaluate/flags/on-bool", `{"context":{"targetingKey":"u1"}}`)
		}
	})
	b.Run("OFREPBulk", func(b *testing.B) {
		for b.Loop() {
			post(b, hc, srv.URL+"/ofrep/v1/evaluate/flags", `{"context":{"targetingKey":"u1"}}`)
		}
	})
}

// BenchmarkProvider compares a provider evaluation from the client's
// local cache, directly and through the SDK's client, with the client's
// own local Get.
func BenchmarkProvider(b *testing.B) {
	srv := server(b)
	c, err := client.New(srv.URL, client.WithLocalCache(100))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	p, err := ofprovider.New(c, ofprovider.Options{Environment: ofreptest.Env})
	if err != nil {
		b.Fatal(err)
	}
	api := isolated.NewAPI()
	b.Cleanup(func() { api.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := api.SetProviderAndWait(ctx, p); err != nil {
		b.Fatal(err)
	}
	of := api.NewClient()
	ctx = context.Background()
	evalCtx := openfeature.NewEvaluationContext("u1", nil)
	flat := openfeature.FlattenedContext{"targetingKey": "u1"}
	if d := p.BooleanEvaluation(ctx, "on-bool", false, flat); !d.Value || d.Reason != openfeature.StaticReason {
		b.Fatalf("got %+v", d)
	}
	b.Run("ClientGet", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Get(ctx, flagcache.ID("on-bool")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Provider", func(b *testing.B) {
		for b.Loop() {
			if d := p.BooleanEvaluation(ctx, "on-bool", false, flat); !d.Value {
				b.Fatal(d.ResolutionError)
			}
		}
	})
	b.Run("SDKClient", func(b *testing.B) {
		for b.Loop() {
			if v, err := of.BooleanValue(ctx, "on-bool", false, evalCtx); !v || err != nil {
				b.Fatal(err)
			}
		}
	})
	if st := c.Stats(); st.Misses > 2 {
		b.Errorf("%d evaluations missed the local cache", st.Misses)
	}
}

// BenchmarkPaired interleaves the compared operations in each iteration
// and reports each one's mean and their ratio: on a shared machine the
// load changes between sub-benchmarks, so only paired ratios hold.
func BenchmarkPaired(b *testing.B) {
	srv := server(b)
	hc := srv.Client()
	b.Run("OFREPvsGET", func(b *testing.B) {
		var get, eval time.Duration
		for b.Loop() {
			t0 := time.Now()
			res, err := hc.Get(srv.URL + "/v1/flags/on-bool")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			t1 := time.Now()
			post(b, hc, srv.URL+"/ofrep/v1/evaluate/flags/on-bool", `{"context":{"targetingKey":"u1"}}`)
			eval += time.Since(t1)
			get += t1.Sub(t0)
		}
		n := float64(b.N)
		b.ReportMetric(float64(get.Nanoseconds())/n, "GET-ns/op")
		b.ReportMetric(float64(eval.Nanoseconds())/n, "OFREP-ns/op")
		b.ReportMetric(float64(eval)/float64(get), "OFREP/GET")
	})
	b.Run("ProviderVsClientGet", func(b *testing.B) {
		c, err := client.New(srv.URL, client.WithLocalCache(100))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		p, err := ofprovider.New(c, ofprovider.Options{Environment: ofreptest.Env})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{}); err != nil {
			b.Fatal(err)
		}
		defer p.Shutdown()
		ctx := context.Background()
		flat := openfeature.FlattenedContext{"targetingKey": "u1"}
		const batch = 256 // time batches: one clock read costs about a Get
		var get, eval time.Duration
		for b.Loop() {
			t0 := time.Now()
			for range batch {
				c.Get(ctx, "on-bool")
			}
			t1 := time.Now()
			for range batch {
				p.BooleanEvaluation(ctx, "on-bool", false, flat)
			}
			eval += time.Since(t1)
			get += t1.Sub(t0)
		}
		n := float64(b.N * batch)
		b.ReportMetric(float64(get.Nanoseconds())/n, "ClientGet-ns/op")
		b.ReportMetric(float64(eval.Nanoseconds())/n, "Provider-ns/op")
		b.ReportMetric(float64(eval)/float64(get), "Provider/ClientGet")
		if st := c.Stats(); st.Misses > 2 {
			b.Errorf("%d reads missed the local cache", st.Misses)
		}
	})
}
