package httpapi

import (
	"context"
	"net/http"
	"sync"
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
// registers its own instruments on it) and shut it down on exit.
func NewPrometheus() (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	return provider, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// instruments are the HTTP metrics, with OpenTelemetry's semantic
// convention names and attributes: http_server_request_duration_seconds
// and flagcache_http_requests_total by method, route and status.
type instruments struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	attrs    sync.Map // attrKey → metric.MeasurementOption, built once per combination
}

type attrKey struct {
	method, route string
	status        int
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/flagcache/flagcache/httpapi")
	requests, err := meter.Int64Counter("flagcache.http.requests",
		metric.WithDescription("HTTP requests served, by route and status"), metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	duration, err := meter.Float64Histogram("http.server.request.duration",
		metric.WithDescription("Duration of HTTP requests (watch streams: their lifetime)"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, err
	}
	return &instruments{requests: requests, duration: duration}, nil
}

func (m *instruments) record(ctx context.Context, method, route string, status int, elapsed time.Duration) {
	key := attrKey{knownMethod(method), route, status}
	opt, ok := m.attrs.Load(key)
	if !ok {
		opt, _ = m.attrs.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("http.request.method", key.method),
			attribute.String("http.route", key.route),
			attribute.Int("http.response.status_code", key.status),
		)))
	}
	attrs := opt.(metric.MeasurementOption)
	// A request whose client went away still counts.
	ctx = context.WithoutCancel(ctx)
	m.requests.Add(ctx, 1, attrs)
	m.duration.Record(ctx, elapsed.Seconds(), attrs)
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
