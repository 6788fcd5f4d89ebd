package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// Defaults of the options.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultRetries        = 2
	DefaultBackoff        = 50 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
	DefaultWatchIdle      = time.Minute
	DefaultMaxIdlePerHost = 64
)

// sharedTransport is the keep-alive transport of every Client built
// without WithHTTPClient: apps that make several clients for one daemon
// share its idle connections. A sidecar serves many small requests from
// few hosts, so it keeps more idle connections per host than net/http's
// default of 2, which would otherwise churn connections under load.
var sharedTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = DefaultMaxIdlePerHost
	t.IdleConnTimeout = 90 * time.Second
	return t
}()

// Client is a flagcache.Store over the HTTP API of a flagcache daemon.
// It is safe for concurrent use. Call Close when done with a client that
// has a local cache or open watches.
type Client struct {
	base    string // scheme://host[/prefix], no trailing slash
	http    *http.Client
	token   string
	timeout time.Duration
	retries int
	backoff time.Duration
	maxWait time.Duration
	idle    time.Duration
	cache   *localCache // nil without WithLocalCache

	// beforeInstall, when set (tests), runs between a Get's remote read
	// and the install of its answer in the local cache.
	beforeInstall func(flagcache.ID)

	// batchCap is the most ids a batchGet sends: 0 until a daemon
	// configured below wire.MaxPage refuses a batch and names its cap.
	batchCap atomic.Int64

	ctx    context.Context // ends on Close: stops watches and the cache
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ flagcache.Store     = (*Client)(nil)
	_ flagcache.HitReader = (*Client)(nil)
)

// Option configures a Client.
type Option func(*Client) error

// WithToken sends "Authorization: Bearer token" with every request.
func WithToken(token string) Option {
	return func(c *Client) error {
		if strings.ContainsAny(token, "\r\n") {
			return errors.New("client: the token contains a line break")
		}
		c.token = token
		return nil
	}
}

// WithTimeout bounds each HTTP request (each attempt of a retried read,
// each page of a paged call). The ctx passed to a call bounds the whole
// call. Watch streams are not bounded by it (see WithWatchIdleTimeout).
// Default 10s.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return errors.New("client: the timeout must be positive")
		}
		c.timeout = d
		return nil
	}
}

// WithHTTPClient sends requests through hc instead of a client on the
// package's shared keep-alive transport. Leave hc.Timeout 0: it would
// also end watch streams; use WithTimeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("client: nil *http.Client")
		}
		c.http = hc
		return nil
	}
}

// WithRetries sets how many times a read (Get, GetMany, List, Count,
// Exists, ModifiedSince, Changes) is retried after an ErrUnavailable
// failure: a connection error, a timeout of one attempt, or a 502, 503 or
// 504. Writes are never retried. Default 2; 0 turns retries off.
func WithRetries(n int) Option {
	return func(c *Client) error {
		if n < 0 {
			return errors.New("client: retries must not be negative")
		}
		c.retries = n
		return nil
	}
}

// WithBackoff sets the wait before the first retry and the cap of the
// exponential backoff (each wait is drawn uniformly from [0, cap of the
// attempt], "full jitter"). It also paces watch reconnections. Defaults
// 50ms and 2s.
func WithBackoff(first, max time.Duration) Option {
	return func(c *Client) error {
		if first <= 0 || max < first {
			return errors.New("client: backoff needs 0 < first <= max")
		}
		c.backoff, c.maxWait = first, max
		return nil
	}
}

// WithWatchIdleTimeout sets how long a watch stream may stay silent before
// the client drops and resumes it. The daemon sends a ping every 15s by
// default, so a silent stream is a dead connection. Default 1 minute.
func WithWatchIdleTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return errors.New("client: the watch idle timeout must be positive")
		}
		c.idle = d
		return nil
	}
}

// WithLocalCache keeps up to size flags (and recent not-found answers) in
// process, coherent with the daemon through GET /v1/watch. See the package
// documentation.
func WithLocalCache(size int) Option {
	return func(c *Client) error {
		if size <= 0 {
			return errors.New("client: the local cache size must be positive")
		}
		c.cache = newLocalCache(size)
		return nil
	}
}

// New returns a client of the daemon at baseURL ("http://127.0.0.1:8080").
// With WithLocalCache it starts the watch stream in the background; New
// itself makes no request.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("client: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("client: base URL %q: the scheme must be http or https", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("client: base URL %q has no host", baseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("client: base URL %q must not have a query or fragment", baseURL)
	}
	c := &Client{
		base:    strings.TrimRight(u.String(), "/"),
		timeout: DefaultTimeout,
		retries: DefaultRetries,
		backoff: DefaultBackoff,
		maxWait: DefaultMaxBackoff,
		idle:    DefaultWatchIdle,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.http == nil {
		c.http = &http.Client{Transport: sharedTransport}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.cache != nil {
		c.startCache()
	}
	return c, nil
}

// Close stops the local cache's watcher and every stream opened with
// Watch, and waits for them to end. Calls after Close still work but
// bypass the local cache.
func (c *Client) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// call is one API request.
type call struct {
	method  string
	path    string // escaped, from /v1/...
	query   url.Values
	body    []byte
	ifMatch int64        // If-Match: "vN" when > 0
	actor   string       // X-Flagcache-Actor when not empty
	id      flagcache.ID // names the flag in errors
	read    bool         // idempotent: may be retried
}

// reply is a successful response, read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do runs cl, retrying reads that failed with ErrUnavailable.
func (c *Client) do(ctx context.Context, cl call) (*reply, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		rep, wait, err := c.attempt(ctx, &cl)
		if err == nil {
			return rep, nil
		}
		if !cl.read || attempt >= c.retries || !errors.Is(err, flagcache.ErrUnavailable) || ctx.Err() != nil {
			return nil, err
		}
		if err := sleep(ctx, c.jitter(attempt, wait)); err != nil {
			return nil, err
		}
	}
}

// jitter returns the wait before retry attempt+1: uniform in
// [0, min(max, backoff·2^attempt)], at least what the server asked for
// with Retry-After (capped by max).
func (c *Client) jitter(attempt int, retryAfter time.Duration) time.Duration {
	ceiling := c.backoff << min(attempt, 20)
	if ceiling > c.maxWait || ceiling <= 0 {
		ceiling = c.maxWait
	}
	d := rand.N(ceiling + 1)
	return max(d, min(retryAfter, c.maxWait))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt sends cl once. It returns the Retry-After of a 503 alongside
// the error.
func (c *Client) attempt(ctx context.Context, cl *call) (*reply, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// A write whose request went out may have been applied even if no
	// answer comes back: remember whether it did.
	var sent atomic.Bool
	if !cl.read {
		actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }})
	}
	req, err := c.newRequest(actx, cl.method, cl.path, cl.query, cl.body)
	if err != nil {
		return nil, 0, err
	}
	if cl.ifMatch > 0 {
		req.Header.Set("If-Match", flagcache.ETag(cl.ifMatch))
	}
	if cl.actor != "" {
		req.Header.Set(wire.ActorHeader, cl.actor)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, 0, transportError(ctx, cl, err, sent.Load())
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, 0, transportError(ctx, cl, err, true)
	}
	if res.StatusCode >= 300 {
		var wait time.Duration
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		return nil, wait, responseError(cl, res, body)
	}
	return &reply{res.StatusCode, res.Header, body}, 0, nil
}

// newRequest builds a request to the API with the client's headers.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body []byte) (*http.Request, error) {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "flagcache-go-client/1")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// flagPath is the path of one flag.
func flagPath(id flagcache.ID) string {
	return "/v1/flags/" + url.PathEscape(string(id))
}
