package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
)

// startDaemon serves the API over store on 127.0.0.1:0 until the test ends.
func startDaemon(t testing.TB, store flagcache.Store, opts httpapi.Options) *httptest.Server {
	t.Helper()
	h, err := httpapi.NewHandler(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close() // ends watch streams, which Close would wait for
		srv.Close()
	})
	return srv
}

// memDaemon is a daemon over a fresh memstore.
func memDaemon(t testing.TB) *httptest.Server {
	t.Helper()
	return startDaemon(t, memstore.New(memstore.Options{}), httpapi.Options{})
}

// newClient returns a client of base, closed when the test ends.
func newClient(t testing.TB, base string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func boolFlag(t testing.TB, id string) *flagcache.Definition {
	t.Helper()
	d, err := flagcache.NewBoolean(flagcache.ID(id), "Flag "+id, false)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustCreate(t testing.TB, s flagcache.Store, id string) *flagcache.Stored {
	t.Helper()
	got, err := s.Create(ctxFor(t), boolFlag(t, id))
	if err != nil {
		t.Fatalf("Create(%s): %v", id, err)
	}
	return got
}

// eventually polls cond every few milliseconds until it holds, failing the
// test after 10s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// proxy is a TCP proxy in front of a daemon whose connections the test
// can sever, and which refuses new ones while down.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.sever(true)
		p.wg.Wait()
	})
	return p
}

// URL is the proxy's base URL.
func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// sever closes every proxied connection; with down, new ones are refused
// until resume.
func (p *proxy) sever(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	for c := range p.conns {
		c.Close()
	}
}

func (p *proxy) resume() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// countingTransport counts the requests that reach the network.
type countingTransport struct {
	mu   sync.Mutex
	reqs map[string]int // "METHOD path"
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.reqs == nil {
		c.reqs = map[string]int{}
	}
	c.reqs[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *countingTransport) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reqs[key]
}
