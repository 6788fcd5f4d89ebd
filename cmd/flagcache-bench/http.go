package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/wire"
)

// requestTimeout bounds one request of the load loops.
const requestTimeout = 10 * time.Second

// httpTarget is a daemon (or the static baseline) read with raw net/http
// GETs: the load loop keeps nothing of a response but its status, its
// X-Flagcache-Tier header and its length, so the generator's own cost is
// small and the same whatever it reads.
type httpTarget struct {
	base   string // scheme://host[/prefix], no trailing slash
	auth   string // Authorization header value, or ""
	client *http.Client
}

// newHTTPTarget returns a target on base with a keep-alive transport that
// keeps conns idle connections (one per worker).
func newHTTPTarget(base, token string, conns int) (*httpTarget, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", base)
	}
	h := &httpTarget{base: strings.TrimRight(base, "/"), client: &http.Client{Transport: newTransport(conns), Timeout: requestTimeout}}
	if token != "" {
		h.auth = "Bearer " + token
	}
	return h, nil
}

// newTransport is a keep-alive transport for conns concurrent requests to
// one host, without compression (the daemon does not compress).
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// newClient returns a flagcache client on the same daemon, for loading
// and writes.
func (h *httpTarget) newClient(token string) (*client.Client, error) {
	// The reader's transport: its idle connections close with h.
	opts := []client.Option{client.WithHTTPClient(&http.Client{Transport: h.client.Transport}), client.WithTimeout(requestTimeout)}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	return client.New(h.base, opts...)
}

func (h *httpTarget) flagURL(id flagcache.ID) string { return h.base + "/v1/flags/" + string(id) }

// flagURLs returns the GET URL of every flag of ds.
func (h *httpTarget) flagURLs(ds *Dataset) []string {
	out := make([]string, ds.Len())
	for i, id := range ds.IDs {
		out[i] = h.flagURL(id)
	}
	return out
}

func (h *httpTarget) close() { h.client.CloseIdleConnections() }

// statusError is a response with an unexpected status.
type statusError struct{ status int }

func (e statusError) Error() string { return fmt.Sprintf("HTTP %d", e.status) }

// get is one read of the load loop: the body is read in full and
// discarded.
func (h *httpTarget) get(ctx context.Context, url string) (Tier, error) {
	status, tier, err := h.request(ctx, url, "")
	if err == nil && status != http.StatusOK {
		err = statusError{status}
	}
	return tier, err
}

// request GETs url, with If-None-Match when ifNoneMatch is set, reads the
// body in full and discards it; a status other than 200 or 304 is an
// error.
func (h *httpTarget) request(ctx context.Context, url, ifNoneMatch string) (int, Tier, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, TierNone, err
	}
	if h.auth != "" {
		req.Header.Set("Authorization", h.auth)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return 0, TierNone, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNotModified {
		return res.StatusCode, TierNone, statusError{res.StatusCode}
	}
	return res.StatusCode, ParseTier(res.Header.Get(wire.TierHeader)), err
}

// delete sends DELETE url; a flag already gone is no error. The bench
// deletes with raw requests: it needs no tombstone, and client.Delete may
// read the change feed twice to find it.
func (h *httpTarget) delete(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return err
	}
	if h.auth != "" {
		req.Header.Set("Authorization", h.auth)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent && res.StatusCode != http.StatusNotFound {
		return statusError{res.StatusCode}
	}
	return nil
}

// fetched is a response read in full.
type fetched struct {
	body    []byte
	etag    string // as sent; "" without one
	version int64  // from the ETag; 0 without one
	tier    Tier
}

// fetch GETs url and keeps the body; ifNoneMatch, when set, is sent as
// If-None-Match, and a 304 answers an empty body.
func (h *httpTarget) fetch(ctx context.Context, url, ifNoneMatch string) (fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fetched{}, err
	}
	if h.auth != "" {
		req.Header.Set("Authorization", h.auth)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fetched{}, err
	}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNotModified {
		return fetched{}, fmt.Errorf("%w: %s", statusError{res.StatusCode}, strings.TrimSpace(string(body)))
	}
	f := fetched{body: body, tier: ParseTier(res.Header.Get(wire.TierHeader))}
	if f.etag = res.Header.Get("ETag"); f.etag != "" {
		f.version, _ = flagcache.ParseETag(f.etag)
	}
	return f, nil
}
