package httpapi

import (
	"context"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// NewPrometheus returns a MeterProvider whose instruments are exported on
// a dedicated Prometheus registry (with the Go runtime and process
// collectors), and the handler serving that registry as /metrics. Pass the
// provider to every package that records metrics (the tiered store
// registers its own instruments on it) and shut it down on exit. opts go
// to the provider: sdkmetric.WithResource sets what target_info says
// (service.name, service.version, service.instance.id).
func NewPrometheus(opts ...sdkmetric.Option) (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, nil, err
	}
	provider := sdkmetric.NewMeterProvider(append([]sdkmetric.Option{sdkmetric.WithReader(exporter)}, opts...)...)
	return provider, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// watchRoute is the route of the SSE stream: its requests last as long as
// the client listens, so they are counted while open
// (flagcache_watch_streams) and kept out of the latency histogram.
const watchRoute = "/v1/watch"

// instruments are the HTTP metrics, with OpenTelemetry's semantic
// convention names and attributes: http_server_request_duration_seconds
// by method, route and status (its _count is the request count), and the
// open watch streams.
type instruments struct {
	duration metric.Float64Histogram
	streams  metric.Int64UpDownCounter
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/flagcache/flagcache/httpapi")
	duration, err := meter.Float64Histogram("http.server.request.duration",
		metric.WithDescription("Duration of HTTP requests (not of watch streams: see flagcache_watch_streams)"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, err
	}
	streams, err := meter.Int64UpDownCounter("flagcache.watch.streams",
		metric.WithDescription("Open /v1/watch streams (authenticated requests in flight)"), metric.WithUnit("{stream}"))
	if err != nil {
		return nil, err
	}
	streams.Add(context.Background(), 0) // exported as 0 before the first stream
	return &instruments{duration: duration, streams: streams}, nil
}

// openStream counts an authenticated watch stream while its handler runs;
// call the function it returns when the handler returned.
func (m *instruments) openStream(ctx context.Context) (end func()) {
	ctx = context.WithoutCancel(ctx)
	m.streams.Add(ctx, 1)
	return func() { m.streams.Add(ctx, -1) }
}

// route returns the latency instrument of one route.
func (m *instruments) route(route string) *routeInstruments {
	ri := &routeInstruments{duration: m.duration, route: route}
	ri.attrs.Store(&map[attrKey][]metric.RecordOption{})
	return ri
}

// routeInstruments records one route's latencies. The attribute set of
// each method and status is built once and kept in a copy-on-write map, so
// a request's measurement allocates nothing: a lookup keyed by a
// comparable struct, where a sync.Map would box the key per call.
type routeInstruments struct {
	duration metric.Float64Histogram
	route    string
	mu       sync.Mutex // serialises additions to attrs
	attrs    atomic.Pointer[map[attrKey][]metric.RecordOption]
}

type attrKey struct {
	method string
	status int
}

func (ri *routeInstruments) record(ctx context.Context, method string, status int, elapsed time.Duration) {
	key := attrKey{knownMethod(method), status}
	opts, ok := (*ri.attrs.Load())[key]
	if !ok {
		opts = ri.add(key)
	}
	ri.duration.Record(ctx, elapsed.Seconds(), opts...) // a kept slice: no variadic one per call
}

func (ri *routeInstruments) add(key attrKey) []metric.RecordOption {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	old := *ri.attrs.Load()
	if opts, ok := old[key]; ok {
		return opts
	}
	opt := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("http.request.method", key.method),
		attribute.String("http.route", ri.route),
		attribute.Int("http.response.status_code", key.status),
	))}
	next := make(map[attrKey][]metric.RecordOption, len(old)+1)
	maps.Copy(next, old)
	next[key] = opt
	ri.attrs.Store(&next)
	return opt
}

// knownMethod keeps the method label's values bounded.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch:
		return m
	}
	return "_OTHER"
}

// serveMetrics serves GET /metrics from Options.Metrics.
func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	h.opts.Metrics.ServeHTTP(w, r)
	return nil
}
