package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes      = 1 << 20
	DefaultMaxBatch          = wire.MaxPage
	DefaultWatchPoll         = 250 * time.Millisecond
	DefaultHeartbeat         = 15 * time.Second
	DefaultWatchPageSize     = 500
	DefaultWatchWriteTimeout = 10 * time.Second
	DefaultWatchReadTimeout  = 10 * time.Second
	DefaultMaxWatchStreams   = 1000
	DefaultMaxWatchPerToken  = 100
	DefaultReadyTimeout      = 2 * time.Second
)

// Options configure a Handler. The zero value serves the API without auth,
// without /metrics and with the defaults below.
type Options struct {
	// Logger receives request logs (debug), errors the client does not see
	// in full (error) and watch stream events. Default: discard.
	Logger *slog.Logger
	// Tokens are the bearer tokens accepted on /v1 routes. None: no auth,
	// and /v1 routes answer only requests whose Host is a loopback name or
	// address, or one of AllowedHosts (403 otherwise), so a DNS-rebinding
	// web page cannot reach them.
	Tokens []Token
	// AllowedHosts are host names (no port) served without tokens beside
	// the loopback ones. With tokens every Host is served.
	AllowedHosts []string
	// MaxBodyBytes caps request bodies (413 above). Default 1 MiB.
	MaxBodyBytes int64
	// MaxBatch caps the ids of one batchGet. Default 1000.
	MaxBatch int
	// MeterProvider gets the HTTP instruments (latency by route and
	// status, open watch streams). Default: no metrics recorded.
	MeterProvider metric.MeterProvider
	// TracerProvider, when set, gets a server span per request (continuing
	// an incoming W3C traceparent). Nil: no spans.
	TracerProvider trace.TracerProvider
	// Metrics serves GET /metrics (see NewPrometheus). Nil: 404.
	Metrics http.Handler
	// ReadyChecks are reported by /readyz beside the source check.
	ReadyChecks []ReadyCheck
	// ReadyTimeout bounds each readiness check. Default 2s.
	ReadyTimeout time.Duration
	// WatchPoll is how often a watch stream reads the change feed when
	// nothing woke it. Default 250ms.
	WatchPoll time.Duration
	// Heartbeat is the interval of ": ping" comments on watch streams.
	// Default 15s.
	Heartbeat time.Duration
	// WatchPageSize is the page size of the change-feed reads of a watch
	// stream. Default 500.
	WatchPageSize int
	// WatchWriteTimeout bounds each write to a watch stream; a client that
	// does not read for that long is dropped. Default 10s.
	WatchWriteTimeout time.Duration
	// WatchReadTimeout bounds each change-feed read of the watch streams;
	// a read that fails or times out ends the streams with an error event.
	// Default 10s.
	WatchReadTimeout time.Duration
	// MaxWatchStreams caps the open watch streams of the handler, and
	// MaxWatchStreamsPerToken those of one token (with tokens configured);
	// beyond, a watch is a 503 with Retry-After. Defaults 1000 and 100.
	MaxWatchStreams         int
	MaxWatchStreamsPerToken int
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.WatchPoll <= 0 {
		o.WatchPoll = DefaultWatchPoll
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.WatchPageSize <= 0 {
		o.WatchPageSize = DefaultWatchPageSize
	}
	if o.WatchWriteTimeout <= 0 {
		o.WatchWriteTimeout = DefaultWatchWriteTimeout
	}
	if o.WatchReadTimeout <= 0 {
		o.WatchReadTimeout = DefaultWatchReadTimeout
	}
	if o.MaxWatchStreams <= 0 {
		o.MaxWatchStreams = DefaultMaxWatchStreams
	}
	if o.MaxWatchStreamsPerToken <= 0 {
		o.MaxWatchStreamsPerToken = DefaultMaxWatchPerToken
	}
}

// Handler serves the API v1 over a flagcache.Store. Close it before the
// server shuts down so watch streams end.
type Handler struct {
	store   flagcache.Store
	hits    flagcache.HitReader     // the store, when it reports tiers
	encoded flagcache.EncodedReader // the store, when it keeps flags encoded
	opts    Options
	log     *slog.Logger
	auth    authenticator
	metrics *instruments
	tracer  trace.Tracer // nil without Options.TracerProvider
	mux     *http.ServeMux
	// getEndpoint is the route GET /v1/flags/{id} of the fast path (the
	// mux has its own; both record the same metric); fast says whether
	// ServeHTTP serves it ahead of the mux (fastGetID): true unless
	// tracing is on (tests turn it off to compare the two paths).
	getEndpoint *endpoint
	fast        bool
	noRoute     http.Handler // the 404 of paths no route serves
	writes      broadcaster  // wakes the watch poller: see Notify
	hub         *watchHub    // the one poller of the watch streams

	closeOnce sync.Once
	done      chan struct{}
}

// NewHandler returns a Handler serving store. It fails on a token without
// a secret or scope.
func NewHandler(store flagcache.Store, opts Options) (*Handler, error) {
	opts.setDefaults()
	auth, err := newAuthenticator(opts.Tokens, opts.AllowedHosts)
	if err != nil {
		return nil, err
	}
	metrics, err := newInstruments(opts.MeterProvider)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		store:   store,
		opts:    opts,
		log:     opts.Logger,
		auth:    auth,
		metrics: metrics,
		mux:     http.NewServeMux(),
		done:    make(chan struct{}),
	}
	h.hub = newWatchHub(h)
	h.hits, _ = store.(flagcache.HitReader)
	h.encoded, _ = store.(flagcache.EncodedReader)
	if opts.TracerProvider != nil {
		h.tracer = opts.TracerProvider.Tracer("github.com/flagcache/flagcache/httpapi")
	}
	h.routes()
	h.fast = h.tracer == nil
	return h, nil
}

// Close ends every watch stream and makes /readyz answer 503, so a load
// balancer stops sending traffic while in-flight requests finish. Register
// it with http.Server.RegisterOnShutdown. It does not close the store.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.done) })
}

// Notify wakes the watch streams: the store changed. Writes through h
// call it; a store that learns of other writes calls it too, e.g.
// tiered.Store.OnChange(h.Notify), so they reach the streams before the
// next WatchPoll.
func (h *Handler) Notify() { h.writes.Notify() }

func (h *Handler) closing() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// handlerFunc is a route's handler: it writes a success response or
// returns an error for writeError to map.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one method of a path.
type route struct {
	method string
	scope  Scope
	fn     handlerFunc
}

func (h *Handler) routes() {
	h.getEndpoint = h.endpoint("/v1/flags/{id}", ScopeRead, h.getFlag)
	h.path("/v1/flags/{id}",
		route{http.MethodGet, ScopeRead, h.getFlag},
		route{http.MethodPut, ScopeWrite, h.putFlag},
		route{http.MethodDelete, ScopeWrite, h.deleteFlag})
	h.path("/v1/flags",
		route{http.MethodGet, ScopeRead, h.listFlags},
		route{http.MethodPost, ScopeWrite, h.createFlag})
	h.path("/v1/flags:batchGet", route{http.MethodPost, ScopeRead, h.batchGet})
	h.path("/v1/flags:count", route{http.MethodGet, ScopeRead, h.countFlags})
	h.path("/v1/flags:modifiedSince", route{http.MethodGet, ScopeRead, h.modifiedSince})
	h.path("/v1/changes", route{http.MethodGet, ScopeRead, h.changes})
	h.path("/v1/watch", route{http.MethodGet, ScopeRead, h.watch})
	h.path("/healthz", route{http.MethodGet, scopeNone, h.healthz})
	h.path("/readyz", route{http.MethodGet, scopeNone, h.readyz})
	if h.opts.Metrics != nil {
		h.path("/metrics", route{http.MethodGet, scopeNone, h.serveMetrics})
	}
	h.historyRoutes()
	// Anything under /v1/flags/ that is not one segment is a bad id
	// ("a/b", ""); anything else is an unknown route.
	h.mux.Handle("/v1/flags/", h.wrap("/v1/flags/", scopeNone, func(w http.ResponseWriter, r *http.Request) error {
		if err := flagcache.ID(strings.TrimPrefix(r.URL.Path, "/v1/flags/")).Validate(); err != nil {
			return err
		}
		return &apiError{wire.CodeNotFound, "no route " + r.Method + " " + r.URL.Path}
	}))
	h.noRoute = h.wrap("other", scopeNone, func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{wire.CodeNotFound, "no route " + r.Method + " " + r.URL.Path}
	})
	h.mux.Handle("/", h.noRoute)
}

// path registers the routes of one path, and a 405 with Allow for the
// other methods. GET routes also answer HEAD (net/http's mux does that).
func (h *Handler) path(path string, routes ...route) {
	var allow []string
	for _, rt := range routes {
		h.mux.Handle(rt.method+" "+path, h.wrap(path, rt.scope, rt.fn))
		allow = append(allow, rt.method)
		if rt.method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	allowed := strings.Join(allow, ", ")
	h.mux.Handle(path, h.wrap(path, scopeNone, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allowed)
		return &apiError{wire.CodeMethodNotAllowed, r.Method + " is not allowed on " + path + "; allowed: " + allowed}
	}))
}

// wrap returns the handler of route: fn after the auth check, its error
// mapped, the request measured and logged (see endpoint.serve).
func (h *Handler) wrap(route string, scope Scope, fn handlerFunc) http.Handler {
	return h.endpoint(route, scope, fn)
}

// endpoint settles what does not depend on the request (the route's
// metric attributes, whether it is the watch stream) once per route, not
// per request.
func (h *Handler) endpoint(route string, scope Scope, fn handlerFunc) *endpoint {
	return &endpoint{h: h, route: route, scope: scope, metrics: h.metrics.route(route), stream: route == watchRoute, fn: fn}
}

// endpoint is one route as the mux serves it, and as the GET fast path
// (fastGetID) serves GET /v1/flags/{id} without the mux.
type endpoint struct {
	h       *Handler
	route   string
	scope   Scope
	metrics *routeInstruments
	stream  bool
	fn      handlerFunc
}

// ServeHTTP serves a request the mux routed: its context is the
// requestInfo ServeHTTP made.
func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, infoOf(r.Context()), e.fn)
}

// serve runs fn after the auth check, maps its error, records metrics and
// logs the request. info is the request's (nil for a request that did not
// come through Handler.ServeHTTP). r's context is info, except on the fast
// path, which derives no request for a hit: a request is derived with
// info as its context where something reads it (an error, a write's
// actor, a trace).
func (e *endpoint) serve(w http.ResponseWriter, r *http.Request, info *requestInfo, fn handlerFunc) {
	h := e.h
	start := sinceStart()
	var sw *statusWriter
	if info != nil && info.sw.ResponseWriter == nil {
		sw = &info.sw
		sw.ResponseWriter = w
	} else {
		sw = &statusWriter{ResponseWriter: w}
	}
	if h.tracer != nil {
		r = withInfo(r, info)
		var span trace.Span
		r, span = h.startSpan(r, e.route)
		defer func() { endSpan(span, sw.code()) }()
	}
	token, err := h.auth.check(sw, r, e.scope)
	if err == nil {
		if info != nil {
			info.token = token
		}
		if e.scope == ScopeWrite {
			r = h.auth.withActor(sw, withInfo(r, info), token) // only writes record an actor
		}
		if e.stream {
			defer h.metrics.openStream(r.Context())()
		}
		err = fn(sw, r)
	}
	if err != nil {
		h.writeError(sw, withInfo(r, info), err)
	}
	elapsed := sinceStart() - start
	if !e.stream || sw.code() != http.StatusOK { // a stream's lifetime is no latency
		e.metrics.record(h.metricsContext(r), r.Method, sw.code(), elapsed)
	}
	if h.log.Enabled(r.Context(), slog.LevelDebug) {
		r = withInfo(r, info)
		logger(r.Context(), h.log).LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("route", e.route),
			slog.Int("status", sw.code()), slog.String("duration", elapsed.String()))
	}
}

// processStart anchors the request clock: time.Since(processStart) reads
// the monotonic clock alone, where time.Now reads the wall clock too (two
// clock reads, about 50 ns each here; a request is timed twice).
var processStart = time.Now()

func sinceStart() time.Duration { return time.Since(processStart) }

// withInfo returns r with info as its context, r itself when it has it
// already (or info is nil).
func withInfo(r *http.Request, info *requestInfo) *http.Request {
	if info == nil || infoOf(r.Context()) == info {
		return r
	}
	return r.WithContext(info)
}

// metricsContext is the context a request's measurement is recorded with:
// one that a client going away does not cancel (its request still counts),
// and that carries the request's span for exemplars when tracing is on.
// Without tracing there is nothing in the request's context the metrics
// read, so none is derived per request.
func (h *Handler) metricsContext(r *http.Request) context.Context {
	if h.tracer == nil {
		return context.Background()
	}
	return context.WithoutCancel(r.Context())
}

// startSpan starts the server span of a request, as the child of the
// caller's span when the request carries a traceparent.
func (h *Handler) startSpan(r *http.Request, route string) (*http.Request, trace.Span) {
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := h.tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", knownMethod(r.Method)),
			attribute.String("http.route", route), attribute.String("request_id", RequestID(ctx))))
	return r.WithContext(ctx), span
}

func endSpan(span trace.Span, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := &requestInfo{Context: r.Context(), id: requestID(r.Header[wire.RequestIDHeader]), token: -1}
	info.header[0] = info.id
	w.Header()[wire.RequestIDHeader] = info.header[0:1:1]
	if h.fast {
		if id, ok := fastGetID(r); ok {
			h.getEndpoint.serve(w, r, info, func(w http.ResponseWriter, r *http.Request) error {
				return h.writeFlag(w, r, info, id)
			})
			return
		}
	}
	r = r.WithContext(info)
	if p := r.URL.EscapedPath(); r.Method != http.MethodConnect && cleanPath(p) != p {
		// The mux would answer a redirect to the cleaned path with an HTML
		// body; no route of the API has such a path.
		h.noRoute.ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// fastGetID returns the id of a GET or HEAD of /v1/flags/{id} that the
// fast path serves as the mux would route it: the path is that prefix and
// a valid id, unescaped (a valid id has no "/" and does not begin with
// ".", so the path is clean). Anything else goes to the mux, as does
// every request when tracing is on.
func fastGetID(r *http.Request) (flagcache.ID, bool) {
	const prefix = "/v1/flags/"
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || r.URL.RawPath != "" ||
		!strings.HasPrefix(r.URL.Path, prefix) {
		return "", false
	}
	id := flagcache.ID(r.URL.Path[len(prefix):])
	return id, id.Validate() == nil
}

// cleanPath is the canonical form of a path as http.ServeMux makes it: one
// leading slash, no empty, "." or ".." segments, the trailing slash kept.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// requestInfo is what the API keeps of a request: its id and the index of
// the token it authenticated with (-1 without tokens, or before the
// check), and the writer wrap records the status with. Made once per
// request in ServeHTTP, completed by wrap on the request's goroutine
// before the route runs. It is the request's context itself (a context
// that answers Value(requestInfoKey{}) and delegates the rest), so the
// request costs one allocation here, not one per value.
type requestInfo struct {
	context.Context
	id    string
	token int
	// header backs the response's own header values, so that they need
	// no slice each: X-Request-Id, and a flag's ETag and Content-Length.
	header [3]string
	sw     statusWriter
}

type requestInfoKey struct{}

// Value implements context.Context.
func (i *requestInfo) Value(key any) any {
	if key == (requestInfoKey{}) {
		return i
	}
	return i.Context.Value(key)
}

func infoOf(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// tokenOf returns the index of the token of a request, -1 without tokens.
func tokenOf(ctx context.Context) int {
	if info := infoOf(ctx); info != nil {
		return info.token
	}
	return -1
}

// RequestID returns the request id of a request served by a Handler.
func RequestID(ctx context.Context) string {
	if info := infoOf(ctx); info != nil {
		return info.id
	}
	return ""
}

func logger(ctx context.Context, l *slog.Logger) *slog.Logger {
	return l.With(slog.String("request_id", RequestID(ctx)))
}

// requestID keeps a caller's id (the first X-Request-Id value) when it is
// short and of safe characters (it goes into logs and a response header),
// and makes one otherwise.
func requestID(in []string) string {
	if len(in) > 0 && in[0] != "" && len(in[0]) <= 128 && flagcache.ID(in[0]).Validate() == nil {
		return in[0]
	}
	return newRequestID()
}

// Request ids are 24 hex digits: 12 chosen at random when the process
// starts, then a counter. They only have to tell requests apart in logs,
// traces and error messages (across restarts and replicas too, which the
// random half does); they are no secret, so reading crypto/rand per
// request bought nothing but its cost.
var (
	requestIDPrefix = func() (p [12]byte) {
		var b [6]byte
		rand.Read(b[:])
		hex.Encode(p[:], b[:])
		return p
	}()
	requestIDSeq atomic.Uint64
)

func newRequestID() string {
	const digits = "0123456789abcdef"
	var b [24]byte
	copy(b[:], requestIDPrefix[:])
	n := requestIDSeq.Add(1)
	for i := len(b) - 1; i >= len(requestIDPrefix); i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

// statusWriter remembers the status written through it. Unwrap lets
// http.ResponseController reach the connection (flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
