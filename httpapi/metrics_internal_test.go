package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// scrapeDuration returns the lines of /metrics about the latency
// histogram (HELP, TYPE and every series).
func scrapeDuration(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	var lines []string
	for l := range strings.SplitSeq(string(body), "\n") {
		if strings.Contains(l, "http_server_request_duration_seconds") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestLatencyHistogramAsSDK: a provider from NewPrometheus gets the
// package's own latency histogram, and /metrics says of it what the SDK's
// histogram on a plain Prometheus exporter says of the same measurements:
// names, help, buckets, labels, counts and sums, byte for byte.
func TestLatencyHistogramAsSDK(t *testing.T) {
	own, ownMetrics, err := NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Shutdown(context.Background())
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		t.Fatal(err)
	}
	sdk := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer sdk.Shutdown(context.Background())

	ownIns, err := newInstruments(own)
	if err != nil {
		t.Fatal(err)
	}
	sdkIns, err := newInstruments(sdk)
	if err != nil {
		t.Fatal(err)
	}
	if ownIns.latency == nil || ownIns.duration != nil || sdkIns.latency != nil || sdkIns.duration == nil {
		t.Fatalf("histograms: own %v/%v, sdk %v/%v; want own latency only, sdk duration only",
			ownIns.latency != nil, ownIns.duration != nil, sdkIns.latency != nil, sdkIns.duration != nil)
	}
	// Every bound exactly, values between and beyond them.
	var values []time.Duration
	for _, b := range durationBounds {
		d := time.Duration(b * float64(time.Second))
		values = append(values, d, d-1, d+1)
	}
	values = append(values, 0, 37*time.Second, 3*time.Microsecond)
	for _, ins := range []*instruments{ownIns, sdkIns} {
		for _, route := range []string{"/v1/flags/{id}", "/v1/flags"} {
			ri := ins.route(route)
			for i, v := range values {
				method := []string{"GET", "POST", "BREW"}[i%3]
				status := []int{200, 404, 200, 503}[i%4]
				ri.record(context.Background(), method, status, v)
			}
		}
	}
	got := scrapeDuration(t, ownMetrics)
	want := scrapeDuration(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if got == "" || got != want {
		t.Errorf("/metrics of NewPrometheus:\n%s\nwant (the SDK's histogram):\n%s", got, want)
	}
	if !strings.Contains(got, `http_server_request_duration_seconds_bucket{http_request_method="_OTHER",http_response_status_code="200",http_route="/v1/flags",le="0.0005"}`) {
		t.Errorf("no _OTHER series for BREW:\n%s", got)
	}
}

// TestLatencyHistogramCountsExact: measurements recorded from many
// goroutines at once are all counted, each in its bucket, and summed.
func TestLatencyHistogramCountsExact(t *testing.T) {
	own, _, err := NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Shutdown(context.Background())
	ins, err := newInstruments(own)
	if err != nil {
		t.Fatal(err)
	}
	// Two Handlers on one provider share its points, as the SDK's would.
	a, b := ins.route("/r"), ins.route("/r")
	// Values in seconds whose sums are exact in a float64: 1/512 s (in
	// the 0.0025 bucket), 1/4 s (0.25: a bound is in its own bucket),
	// 1 s (1) and 16 s (+Inf).
	values := []time.Duration{time.Second / 512, time.Second / 4, time.Second, 16 * time.Second}
	const goroutines, each = 8, 5000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ri := a
			if g%2 == 1 {
				ri = b
			}
			for i := range each {
				ri.record(context.Background(), "GET", 200, values[i%len(values)])
			}
		})
	}
	wg.Wait()
	sms, err := ins.latency.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sms) != 1 || len(sms[0].Metrics) != 1 {
		t.Fatalf("Produce: %+v, want one metric", sms)
	}
	h := sms[0].Metrics[0].Data.(metricdata.Histogram[float64])
	if len(h.DataPoints) != 1 {
		t.Fatalf("%d points, want 1", len(h.DataPoints))
	}
	dp := h.DataPoints[0]
	const perValue = goroutines * each / 4
	want := make([]uint64, len(durationBounds)+1)
	for _, i := range []int{2, 8, 10, 14} { // the buckets of 1/512, 1/4, 1 and 16 s
		want[i] = perValue
	}
	if dp.Count != goroutines*each || !slices.Equal(dp.BucketCounts, want) {
		t.Errorf("count %d, buckets %v; want %d, %v", dp.Count, dp.BucketCounts, goroutines*each, want)
	}
	if wantSum := perValue * (1.0/512 + 0.25 + 1 + 16); dp.Sum != wantSum {
		t.Errorf("sum %v, want %v", dp.Sum, wantSum)
	}
}
