package httpapi

import (
	"context"
	"maps"
	"math"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// NewPrometheus returns a MeterProvider whose instruments are exported on
// a dedicated Prometheus registry (with the Go runtime and process
// collectors), and the handler serving that registry as /metrics. Pass the
// provider to every package that records metrics (the tiered store
// registers its own instruments on it) and shut it down on exit. opts go
// to the provider: sdkmetric.WithResource sets what target_info says
// (service.name, service.version, service.instance.id).
//
// A Handler given this provider aggregates its request-latency histogram
// (http.server.request.duration) itself, in atomic bucket counters, and
// the provider's reader reads them through a metric producer: the same
// name, buckets, labels and counts as the SDK's histogram, at a fraction
// of the SDK's cost per request (docs/benchmarks.md, session 6). Views
// among opts do not apply to that histogram.
func NewPrometheus(opts ...sdkmetric.Option) (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	latency := newLatencyHistogram()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithProducer(latency))
	if err != nil {
		return nil, nil, err
	}
	provider := sdkmetric.NewMeterProvider(append([]sdkmetric.Option{sdkmetric.WithReader(exporter)}, opts...)...)
	key := weak.Make(provider)
	ownLatency.Store(key, latency)
	runtime.AddCleanup(provider, func(key weak.Pointer[sdkmetric.MeterProvider]) { ownLatency.Delete(key) }, key)
	return provider, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// ownLatency maps each provider NewPrometheus made to the latency
// histogram its reader produces (weak.Pointer[sdkmetric.MeterProvider] →
// *latencyHistogram); a provider's entry goes when the provider does.
var ownLatency sync.Map

// watchRoute is the route of the SSE stream: its requests last as long as
// the client listens, so they are counted while open
// (flagcache_watch_streams) and kept out of the latency histogram.
const watchRoute = "/v1/watch"

// instruments are the HTTP metrics, with OpenTelemetry's semantic
// convention names and attributes: http_server_request_duration_seconds
// by method, route and status (its _count is the request count), and the
// open watch streams. The histogram is either the SDK's (duration) or,
// on a provider from NewPrometheus, one of this package's (latency).
type instruments struct {
	duration metric.Float64Histogram
	latency  *latencyHistogram
	streams  metric.Int64UpDownCounter
}

const (
	durationName        = "http.server.request.duration"
	durationDescription = "Duration of HTTP requests (not of watch streams: see flagcache_watch_streams)"
	durationUnit        = "s"
	meterName           = "github.com/flagcache/flagcache/httpapi"
)

// durationBounds are the latency histogram's bucket boundaries, seconds.
var durationBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter(meterName)
	m := &instruments{}
	if p, ok := mp.(*sdkmetric.MeterProvider); ok {
		if l, ok := ownLatency.Load(weak.Make(p)); ok {
			m.latency = l.(*latencyHistogram)
		}
	}
	if m.latency == nil {
		duration, err := meter.Float64Histogram(durationName,
			metric.WithDescription(durationDescription), metric.WithUnit(durationUnit),
			metric.WithExplicitBucketBoundaries(durationBounds[:]...))
		if err != nil {
			return nil, err
		}
		m.duration = duration
	}
	streams, err := meter.Int64UpDownCounter("flagcache.watch.streams",
		metric.WithDescription("Open /v1/watch streams (authenticated requests in flight)"), metric.WithUnit("{stream}"))
	if err != nil {
		return nil, err
	}
	streams.Add(context.Background(), 0) // exported as 0 before the first stream
	m.streams = streams
	return m, nil
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
	ri := &routeInstruments{duration: m.duration, latency: m.latency, route: route}
	ri.attrs.Store(&map[attrKey]routeAttrs{})
	return ri
}

// routeInstruments records one route's latencies. What each method and
// status records into (the SDK's attribute set, or this package's
// histogram point) is found once and kept in a copy-on-write map, so a
// request's measurement allocates nothing: a lookup keyed by a comparable
// struct, where a sync.Map would box the key per call.
type routeInstruments struct {
	duration metric.Float64Histogram
	latency  *latencyHistogram
	route    string
	mu       sync.Mutex // serialises additions to attrs
	attrs    atomic.Pointer[map[attrKey]routeAttrs]
}

type attrKey struct {
	method string
	status int
}

// routeAttrs is where one method and status of a route record: point on
// a provider from NewPrometheus, else the SDK histogram with opts.
type routeAttrs struct {
	opts  []metric.RecordOption
	point *latencyPoint
}

func (ri *routeInstruments) record(ctx context.Context, method string, status int, elapsed time.Duration) {
	key := attrKey{knownMethod(method), status}
	ra, ok := (*ri.attrs.Load())[key]
	if !ok {
		ra = ri.add(key)
	}
	if ra.point != nil {
		ra.point.record(elapsed.Seconds())
		return
	}
	ri.duration.Record(ctx, elapsed.Seconds(), ra.opts...) // a kept slice: no variadic one per call
}

func (ri *routeInstruments) add(key attrKey) routeAttrs {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	old := *ri.attrs.Load()
	if ra, ok := old[key]; ok {
		return ra
	}
	set := attribute.NewSet(
		attribute.String("http.request.method", key.method),
		attribute.String("http.route", ri.route),
		attribute.Int("http.response.status_code", key.status),
	)
	var ra routeAttrs
	if ri.latency != nil {
		ra.point = ri.latency.point(set)
	} else {
		ra.opts = []metric.RecordOption{metric.WithAttributeSet(set)}
	}
	next := make(map[attrKey]routeAttrs, len(old)+1)
	maps.Copy(next, old)
	next[key] = ra
	ri.attrs.Store(&next)
	return ra
}

// latencyHistogram is the request-latency histogram of the Handlers on
// one provider from NewPrometheus, cumulative since it was made: a point
// per attribute set (method, route, status), each a row of atomic bucket
// counters and an atomic sum. Its Produce hands the points to the
// provider's reader as the SDK's explicit-bucket histogram would.
type latencyHistogram struct {
	start  time.Time
	mu     sync.Mutex
	points map[attribute.Distinct]*latencyPoint
}

func newLatencyHistogram() *latencyHistogram {
	return &latencyHistogram{start: time.Now(), points: map[attribute.Distinct]*latencyPoint{}}
}

// point returns the point of an attribute set, made on first use (every
// Handler on the provider shares it, as they would the SDK's).
func (l *latencyHistogram) point(set attribute.Set) *latencyPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.points[set.Equivalent()]
	if !ok {
		p = &latencyPoint{attrs: set}
		l.points[set.Equivalent()] = p
	}
	return p
}

// latencyPoint is one attribute set's counters: counts[i] those of
// (durationBounds[i-1], durationBounds[i]], the last those above the last
// bound (the SDK's buckets), and the sum as float64 bits.
type latencyPoint struct {
	attrs  attribute.Set
	counts [len(durationBounds) + 1]atomic.Uint64
	sum    atomic.Uint64
}

func (p *latencyPoint) record(v float64) {
	i := 0 // the first bound ≥ v, as the SDK's sort.SearchFloat64s
	for i < len(durationBounds) && durationBounds[i] < v {
		i++
	}
	p.counts[i].Add(1)
	for {
		old := p.sum.Load()
		if p.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Produce returns the histogram's points (metric.Producer). A point's
// count is the sum of its buckets; its sum may miss a measurement being
// recorded while it is read.
func (l *latencyHistogram) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	l.mu.Lock()
	points := make([]*latencyPoint, 0, len(l.points))
	for _, p := range l.points {
		points = append(points, p)
	}
	l.mu.Unlock()
	if len(points) == 0 {
		return nil, nil
	}
	now, bounds := time.Now(), slices.Clone(durationBounds[:])
	dps := make([]metricdata.HistogramDataPoint[float64], len(points))
	for i, p := range points {
		counts := make([]uint64, len(p.counts))
		var n uint64
		for j := range p.counts {
			counts[j] = p.counts[j].Load()
			n += counts[j]
		}
		dps[i] = metricdata.HistogramDataPoint[float64]{
			Attributes:   p.attrs,
			StartTime:    l.start,
			Time:         now,
			Count:        n,
			Bounds:       bounds,
			BucketCounts: counts,
			Sum:          math.Float64frombits(p.sum.Load()),
		}
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: meterName},
		Metrics: []metricdata.Metrics{{
			Name:        durationName,
			Description: durationDescription,
			Unit:        durationUnit,
			Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: dps},
		}},
	}}, nil
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
