package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// testDaemon is `flagcache serve` running in-process on 127.0.0.1:0,
// started through cli.run exactly as main starts it.
type testDaemon struct {
	base   string
	token  string // sent as a bearer token when not empty
	client *http.Client
	spec   *apiSpec
	logs   *lockedBuffer
	// stop ends the daemon's context and returns its exit code.
	stop func() int
}

// startDaemon runs `flagcache serve` with args (after --listen 127.0.0.1:0
// and a data dir in t.TempDir) and env as its whole environment. Cleanup
// stops it and checks that it exited 0.
func startServe(t *testing.T, env map[string]string, args ...string) *testDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderrR, stderrW := io.Pipe()
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderrW, getenv: func(k string) string { return env[k] }}
	full := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json", "--log-level", "debug"}, args...)
	exited := make(chan int, 1)
	go func() {
		exited <- c.run(ctx, full)
		stderrW.Close()
	}()

	logs := &lockedBuffer{}
	addr := make(chan string, 1)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(stderrR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
		io.Copy(io.Discard, stderrR)
	}()

	d := &testDaemon{client: &http.Client{Timeout: 10 * time.Second}, spec: loadSpec(t), logs: logs}
	select {
	case a := <-addr:
		d.base = "http://" + a
	case code := <-exited:
		cancel()
		t.Fatalf("flagcache serve exited with %d before listening:\n%s", code, logs.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("flagcache serve did not listen within 10s:\n%s", logs.String())
	}
	var once sync.Once
	code := -1
	d.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-exited:
				<-logsDone // every log line is in d.logs
			case <-time.After(20 * time.Second):
				t.Errorf("flagcache serve did not stop within 20s of its context ending")
			}
		})
		return code
	}
	t.Cleanup(func() {
		if code := d.stop(); code != 0 {
			t.Errorf("flagcache serve exited with %d, want 0:\n%s", code, logs.String())
		}
	})
	return d
}

// response is a response read in full and validated against the spec.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// errorCode returns the error code of an error body ("" if none).
func (r response) errorCode() string {
	var e struct{ Error struct{ Code string } }
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends a request (headers as "Name: value" strings) and validates the
// response against docs/openapi.yaml.
func (d *testDaemon) do(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	req := d.request(t, method, path, body, headers...)
	res, err := d.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	d.spec.validate(t, req, res.StatusCode, res.Header, data)
	return response{res.StatusCode, res.Header, data}
}

func (d *testDaemon) request(t *testing.T, method, path, body string, headers ...string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(name, strings.TrimSpace(value))
	}
	return req
}

// apiSpec is docs/openapi.yaml, loaded once.
type apiSpec struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	specOnce sync.Once
	spec     *apiSpec
	specErr  error
)

func loadSpec(t *testing.T) *apiSpec {
	t.Helper()
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
		if err != nil {
			specErr = err
			return
		}
		if specErr = doc.Validate(loader.Context); specErr != nil {
			return
		}
		doc.Servers = nil // match any host: the daemon listens on a random port
		router, err := legacy.NewRouter(doc)
		spec, specErr = &apiSpec{doc: doc, router: router}, err
	})
	if specErr != nil {
		t.Fatalf("docs/openapi.yaml: %v", specErr)
	}
	return spec
}

// validate checks one response against the operation of its request. A
// request that matches no operation (an unknown route or method) must get
// the Error schema.
func (s *apiSpec) validate(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		var v any
		if jerr := json.Unmarshal(body, &v); jerr != nil {
			t.Errorf("%s %s (no operation: %v): %d with a body that is not JSON: %q", req.Method, req.URL.Path, err, status, body)
			return
		}
		if verr := s.doc.Components.Schemas["Error"].Value.VisitJSON(v); verr != nil {
			t.Errorf("%s %s (no operation): %d body does not match the Error schema: %v", req.Method, req.URL.Path, status, verr)
		}
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	if strings.HasPrefix(header.Get("Content-Type"), "text/event-stream") {
		opts.ExcludeResponseBody = true
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Options:                opts,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s: %d response does not match docs/openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, status, err, body)
	}
}

// lockedBuffer collects the daemon's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
