package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/wire"
)

// countingStore counts the change-feed reads that reach the source, and
// fails them with err while it is set.
type countingStore struct {
	flagcache.Store
	reads atomic.Int64
	mu    sync.Mutex
	err   error
}

func (c *countingStore) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	c.reads.Add(1)
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.Store.Changes(ctx, after, limit)
}

func (c *countingStore) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

// TestIdleWatchStreamsShareOnePoller: 500 idle watch streams cost the
// source the reads one does (one per poll, counted at the source), and
// goroutines and file descriptors return to the baseline when they close.
func TestIdleWatchStreamsShareOnePoller(t *testing.T) {
	store := &countingStore{Store: memstore.New(memstore.Options{})}
	mustCreate(t, store, "a")
	h, err := httpapi.NewHandler(store, httpapi.Options{Heartbeat: time.Hour, MaxWatchStreams: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan time.Time)
	httpapi.SetWatchTicks(h, ticks)
	srv := newUnstarted(h)
	srv.Start()
	defer srv.Close()
	defer h.Close()

	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFDs(t)
	const polls = 10
	readsPerPolls := func(n int) int64 {
		streams := make([]*stream, n)
		for i := range streams {
			streams[i] = openStream(t, srv.URL+"/v1/watch")
		}
		before := store.reads.Load()
		// The poller takes a tick only after it has done the reads of the
		// previous one: polls+1 sends, polls complete polls.
		for range polls + 1 {
			ticks <- time.Now()
		}
		reads := store.reads.Load() - before
		for _, s := range streams {
			s.close()
		}
		return reads
	}
	one := readsPerPolls(1)
	many := readsPerPolls(500)
	t.Logf("source reads over %d polls: 1 stream %d, 500 streams %d", polls, one, many)
	if one < polls || one > polls+1 {
		t.Errorf("1 stream: %d reads over %d polls, want %d or %d", one, polls, polls, polls+1)
	}
	if many > one+1 {
		t.Errorf("500 idle streams: %d source reads over %d polls, 1 stream: %d; want the same", many, polls, one)
	}

	// Back to the baseline once the streams are closed.
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fds := runtime.NumGoroutine(), openFDs(t)
		if g <= baseGoroutines+2 && fds <= baseFDs+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing the streams: %d goroutines (baseline %d), %d fds (baseline %d)", g, baseGoroutines, fds, baseFDs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchStreamLimits: beyond MaxWatchStreams, or a token's
// MaxWatchStreamsPerToken, a watch is a 503 with Retry-After; a stream
// that closes frees its place.
func TestWatchStreamLimits(t *testing.T) {
	store := memstore.New(memstore.Options{})
	const tokA, tokB = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
	srv, _ := newServer(t, store, httpapi.Options{Heartbeat: time.Hour, MaxWatchStreams: 3, MaxWatchStreamsPerToken: 2,
		Tokens: []httpapi.Token{{Secret: tokA, Scope: httpapi.ScopeRead}, {Secret: tokB, Scope: httpapi.ScopeRead}}})
	url := srv.URL + "/v1/watch"
	refused := func(what, token string) {
		t.Helper()
		res, body := get(t, "GET", url, "Authorization: Bearer "+token)
		if res.StatusCode != http.StatusServiceUnavailable || errorCode(t, body) != "unavailable" || res.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: got %d %s (Retry-After %q), want 503 with Retry-After", what, res.StatusCode, body, res.Header.Get("Retry-After"))
		}
	}
	a1 := openStream(t, url, "Authorization: Bearer "+tokA)
	openStream(t, url, "Authorization: Bearer "+tokA)
	refused("a third stream of token A", tokA)
	openStream(t, url, "Authorization: Bearer "+tokB)
	refused("a fourth stream on the server", tokB)
	a1.close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tokB)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		cancel()
		if res.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream did not free its place: %d", res.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchErrorEvent: a stream whose feed read fails sends event: error
// with the error object and ends, instead of pinging forever.
func TestWatchErrorEvent(t *testing.T) {
	store := &countingStore{Store: memstore.New(memstore.Options{})}
	srv, h := newServer(t, store, httpapi.Options{WatchPoll: 10 * time.Millisecond, Heartbeat: time.Hour})
	s := openStream(t, srv.URL+"/v1/watch")
	store.fail(flagcache.Unavailable(errors.New("dial tcp 10.9.9.9:5432: connection refused")))
	h.Notify()
	_, name, data := s.event(t)
	var body wire.ErrorBody
	if err := json.Unmarshal([]byte(data), &body); err != nil || name != "error" || body.Error == nil || body.Error.Code != "unavailable" || body.Error.Message == "" {
		t.Fatalf("got event %q %s (%v), want an error event with code unavailable", name, data, err)
	}
	if strings.Contains(data, "10.9.9.9") {
		t.Errorf("the cause leaked to the client: %s", data)
	}
	s.waitEnd(t)
}
