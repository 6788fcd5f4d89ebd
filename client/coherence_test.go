package client_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
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
