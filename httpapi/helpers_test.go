package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/wire"
)

// newServer serves store through a Handler with opts on an httptest server.
func newServer(t *testing.T, store flagcache.Store, opts httpapi.Options) (*httptest.Server, *httpapi.Handler) {
	t.Helper()
	h, err := httpapi.NewHandler(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.RegisterOnShutdown(h.Close)
	srv.Start()
	t.Cleanup(func() { h.Close(); srv.Close() })
	return srv, h
}

func mustCreate(t *testing.T, s flagcache.Store, id flagcache.ID) *flagcache.Stored {
	t.Helper()
	def, err := flagcache.NewBoolean(id, "Flag "+string(id), true)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Create(context.Background(), def)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// get does a request and returns the response with its body read.
func get(t *testing.T, method, url string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(name, strings.TrimSpace(value))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e wire.ErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == nil {
		t.Fatalf("not an error body: %q", body)
	}
	return e.Error.Code
}

// stream is an open SSE response; lines come from a background reader.
type stream struct {
	lines  chan string
	cancel context.CancelFunc
	ended  chan struct{}
}

func openStream(t *testing.T, url string, headers ...string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(name, strings.TrimSpace(value))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		body, _ := io.ReadAll(res.Body)
		cancel()
		t.Fatalf("GET %s: got %d %s, want 200", url, res.StatusCode, body)
	}
	s := &stream{lines: make(chan string, 1000), cancel: cancel, ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(s.close)
	return s
}

// event returns the next event (id, name, data), skipping comments.
func (s *stream) event(t *testing.T) (id, name, data string) {
	t.Helper()
	for {
		line := s.line(t)
		switch {
		case line == "" && name != "":
			return id, name, data
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

// line returns the next line, failing after 5s.
func (s *stream) line(t *testing.T) string {
	t.Helper()
	select {
	case l := <-s.lines:
		return l
	case <-s.ended:
		select {
		case l := <-s.lines:
			return l
		default:
		}
		t.Fatal("the stream ended")
	case <-time.After(5 * time.Second):
		t.Fatal("nothing on the stream within 5s")
	}
	return ""
}

// waitEnd fails unless the stream ends within 5s.
func (s *stream) waitEnd(t *testing.T) {
	t.Helper()
	for {
		select {
		case <-s.lines:
		case <-s.ended:
			return
		case <-time.After(5 * time.Second):
			t.Fatal("the stream did not end within 5s")
		}
	}
}

func (s *stream) close() {
	s.cancel()
	<-s.ended
}

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func newUnstarted(h http.Handler) *httptest.Server { return httptest.NewUnstartedServer(h) }
