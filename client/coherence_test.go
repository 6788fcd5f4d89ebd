package client_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/wire"
)

// gatedWatch passes requests to the daemon, but holds back the body of
// every watch stream after the first until release is closed: the
// stream is open (headers sent) and its backlog not yet delivered.
type gatedWatch struct {
	next    http.Handler
	streams atomic.Int64
	opened  chan struct{} // closed when a held-back stream has sent its headers
	release chan struct{}
	once    sync.Once
}

func (g *gatedWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/watch" || g.streams.Add(1) == 1 {
		g.next.ServeHTTP(w, r)
		return
	}
	g.next.ServeHTTP(&heldWriter{ResponseWriter: w, g: g}, r)
}

type heldWriter struct {
	http.ResponseWriter
	g *gatedWatch
}

func (h *heldWriter) WriteHeader(code int) {
	h.ResponseWriter.WriteHeader(code)
	http.NewResponseController(h.ResponseWriter).Flush()
	h.g.once.Do(func() { close(h.g.opened) })
}

func (h *heldWriter) Write(b []byte) (int, error) {
	<-h.g.release
	return h.ResponseWriter.Write(b)
}

func (h *heldWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// After a watch reconnect the local cache is not coherent until the
// backlog is applied: while the reconnected stream has not delivered the
// write made during the disconnection, a read does not serve the
// superseded copy, and reads through the client never go back.
func TestLocalCacheCoherentAfterBacklog(t *testing.T) {
	store := memstore.New(memstore.Options{})
	h, err := httpapi.NewHandler(store, httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gate := &gatedWatch{next: h, opened: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(gate.release) }) }
	daemon := httptest.NewServer(gate)
	t.Cleanup(func() {
		release()
		h.Close()
		daemon.Close()
	})
	px := startProxy(t, daemon.Listener.Addr().String())
	reader, _ := cachedClient(t, px.URL())
	ctx := ctxFor(t)

	def := boolFlag(t, "f")
	if _, err := store.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reader to cache version 1", func() bool {
		hit, err := reader.GetHit(ctx, "f")
		return err == nil && hit.Tier == client.TierLocal && hit.Stored.Version == 1
	})

	px.sever(false) // the stream drops; it reconnects at once
	if _, err := store.Update(ctx, def, 1); err != nil {
		t.Fatal(err)
	}
	<-gate.opened
	eventually(t, "the reader to reopen its stream", func() bool { return reader.Stats().Reconnects >= 1 })
	for i := range 3 {
		hit, err := reader.GetHit(ctx, "f")
		if err != nil || hit.Stored.Version != 2 {
			t.Fatalf("read %d before the backlog arrived: %+v from %s, %v; want version 2", i, hit.Stored, hit.Tier, err)
		}
	}
	release()
	eventually(t, "the reader to serve version 2 locally", func() bool {
		hit, err := reader.GetHit(ctx, "f")
		if err != nil || hit.Stored.Version < 2 {
			t.Fatalf("read after the backlog: %+v, %v; want version 2", hit.Stored, err)
		}
		return hit.Tier == client.TierLocal
	})
}

// A daemon whose stream cannot make progress sends an "error" event and
// closes: the client stops serving locally, records why, and reconnects.
func TestLocalCacheWatchErrorEvent(t *testing.T) {
	store := memstore.New(memstore.Options{})
	h, err := httpapi.NewHandler(store, httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/watch" && failing.Load() {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: error\ndata: {\"error\":{\"code\":\"unavailable\",\"message\":\"source unreachable\"}}\n\n")
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		h.Close()
		daemon.Close()
	})
	px := startProxy(t, daemon.Listener.Addr().String())
	reader, _ := cachedClient(t, px.URL())
	failing.Store(true)
	px.sever(false)
	eventually(t, "the reader to record the error event", func() bool {
		var e *client.Error
		err := reader.Stats().WatchError
		return errors.As(err, &e) && e.Code == "unavailable" && errors.Is(err, flagcache.ErrUnavailable)
	})
	if reader.Stats().Connected {
		t.Error("the cache is coherent while the stream fails")
	}
	failing.Store(false)
	eventually(t, "the reader to reconnect", func() bool { return reader.Stats().Connected })
}

// faultyDaemon passes requests to a daemon, except that, while set, watch
// streams end at once with an "error" event (the daemon's source failed),
// reads of flags answer 503, or GET of a flag answers an old response
// (the daemon's own cache lags the feed its watch streams read).
type faultyDaemon struct {
	next                 http.Handler
	failWatch, failReads atomic.Bool
	behind               atomic.Pointer[string]
	behindBatch          atomic.Pointer[string] // the same for POST /v1/flags:batchGet
	// quietWatch: streams open and stay silent (the daemon's feed reads
	// fail); staleChanges: GET /v1/changes answers this body marked
	// stale (served from the daemon's memory while its source is down).
	quietWatch   atomic.Bool
	staleChanges atomic.Pointer[string]
}

func (f *faultyDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/watch" && f.quietWatch.Load():
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": watching\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	case r.URL.Path == "/v1/changes" && f.staleChanges.Load() != nil:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(wire.StaleHeader, wire.HeaderTrue)
		io.WriteString(w, *f.staleChanges.Load())
	case r.URL.Path == "/v1/watch" && f.failWatch.Load():
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": watching\n\nevent: error\ndata: {\"error\":{\"code\":\"unavailable\",\"message\":\"source unreachable\"}}\n\n")
	case r.URL.Path == "/v1/flags:batchGet" && f.behindBatch.Load() != nil:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, *f.behindBatch.Load())
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/flags/") && f.behind.Load() != nil:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, *f.behind.Load())
	case strings.HasPrefix(r.URL.Path, "/v1/flags") && f.failReads.Load():
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"code":"unavailable","message":"source unreachable"}}`)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// faultyRig is a flag f at version 1 in a store served through a
// faultyDaemon behind a proxy, and a client with a local cache.
type faultyRig struct {
	store  *memstore.Store
	daemon *faultyDaemon
	px     *proxy
	reader *client.Client
	def    *flagcache.Definition
}

func startFaultyRig(t *testing.T) *faultyRig {
	t.Helper()
	store := memstore.New(memstore.Options{})
	h, err := httpapi.NewHandler(store, httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &faultyDaemon{next: h}
	daemon := httptest.NewServer(f)
	t.Cleanup(func() {
		h.Close()
		daemon.Close()
	})
	r := &faultyRig{store: store, daemon: f, px: startProxy(t, daemon.Listener.Addr().String()), def: boolFlag(t, "f")}
	if _, err := store.Create(ctxFor(t), r.def); err != nil {
		t.Fatal(err)
	}
	r.reader, _ = cachedClient(t, r.px.URL())
	return r
}

// failStream ends the reader's stream; every new one ends with an error
// event.
func (r *faultyRig) failStream(t *testing.T) {
	t.Helper()
	r.daemon.failWatch.Store(true)
	r.px.sever(false)
	eventually(t, "the reader to stop serving locally", func() bool { return !r.reader.Stats().Connected })
}

// While the watch stream is down (the daemon's source failed), reads go
// to the daemon; when the daemon then cannot answer either, the copy the
// client falls back on must not be older than what it already returned:
// reads through one client never go back, stale or not.
func TestLocalCacheMonotonicWhileStreamFails(t *testing.T) {
	r := startFaultyRig(t)
	ctx := ctxFor(t)
	eventually(t, "the reader to cache version 1", func() bool {
		hit, err := r.reader.GetHit(ctx, "f")
		return err == nil && hit.Tier == client.TierLocal && hit.Stored.Version == 1
	})
	r.failStream(t)
	if _, err := r.store.Update(ctx, r.def, 1); err != nil {
		t.Fatal(err)
	}
	hit, err := r.reader.GetHit(ctx, "f")
	if err != nil || hit.Stored.Version != 2 {
		t.Fatalf("read while the stream fails: %+v from %s, %v; want version 2 from the daemon", hit.Stored, hit.Tier, err)
	}
	r.daemon.failReads.Store(true)
	hit, err = r.reader.GetHit(ctx, "f")
	if err == nil && hit.Stored.Version < 2 {
		t.Fatalf("read with the daemon failing: version %d from %s (stale %v) after version 2 was read; want ≥ 2 or an error", hit.Stored.Version, hit.Tier, hit.Stale)
	}
	if err == nil && !hit.Stale {
		t.Errorf("read with the daemon failing: a copy not marked stale")
	}
}

// A daemon whose own cache lags the feed may answer a read with a copy
// older than one the client already holds and served: while the stream
// is down the client then serves its newer copy, not the daemon's — from
// Get and from GetMany.
func TestLocalCacheMonotonicWhenDaemonBehind(t *testing.T) {
	r := startFaultyRig(t)
	ctx := ctxFor(t)
	res, err := http.Get(r.px.URL() + "/v1/flags/f")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/flags/f: %d, %v", res.StatusCode, err)
	}
	res, err = http.Post(r.px.URL()+"/v1/flags:batchGet", "application/json", strings.NewReader(`{"ids":["f"]}`))
	if err != nil {
		t.Fatal(err)
	}
	v1Batch, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/flags:batchGet: %d, %v", res.StatusCode, err)
	}
	if _, err := r.reader.Update(ctx, r.def, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reader to serve version 2 locally", func() bool {
		hit, err := r.reader.GetHit(ctx, "f")
		return err == nil && hit.Tier == client.TierLocal && hit.Stored.Version == 2
	})
	r.failStream(t)
	body := string(v1)
	r.daemon.behind.Store(&body)
	hit, err := r.reader.GetHit(ctx, "f")
	if err != nil || hit.Stored.Version != 2 {
		t.Fatalf("read from a daemon behind: %+v from %s, %v; want version 2", hit.Stored, hit.Tier, err)
	}
	batch := string(v1Batch)
	r.daemon.behindBatch.Store(&batch)
	found, err := r.reader.GetMany(ctx, []flagcache.ID{"f"})
	if err != nil || found["f"] == nil || found["f"].Version != 2 {
		t.Fatalf("GetMany from a daemon behind: %+v, %v; want version 2", found["f"], err)
	}
}

// A daemon whose source is down may answer /v1/changes from its memory,
// marked stale: that page cannot tell the client its backlog is applied.
// Reconnected to such a daemon (a stream that stays silent, a stale page
// saying nothing is after the cursor), the client must not call its cache
// coherent and serve what it held before the stream failed.
func TestLocalCacheNotCoherentOnStaleFeed(t *testing.T) {
	r := startFaultyRig(t)
	ctx := ctxFor(t)
	eventually(t, "the reader to cache version 1", func() bool {
		hit, err := r.reader.GetHit(ctx, "f")
		return err == nil && hit.Tier == client.TierLocal && hit.Stored.Version == 1
	})
	r.failStream(t)
	st, err := r.store.Update(ctx, r.def, 1)
	if err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf(`{"changes":[],"revision":%d}`, st.Revision-1)
	r.daemon.staleChanges.Store(&stale)
	r.daemon.quietWatch.Store(true)
	r.daemon.failWatch.Store(false)
	// Nothing is read meanwhile (a read would teach the client version 2):
	// the client must not become coherent on the stale page alone.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !r.reader.Stats().Connected {
			continue
		}
		hit, err := r.reader.GetHit(ctx, "f")
		if err == nil && hit.Stored.Version < 2 && !hit.Stale {
			t.Fatalf("coherent on a stale change-feed page: version %d from %s, with version 2 at the source", hit.Stored.Version, hit.Tier)
		}
	}
}
