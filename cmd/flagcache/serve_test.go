package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// runCLI runs the command line args with env as the whole environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.run(ctx, args), out.String(), errOut.String()
}

func TestBindRefusal(t *testing.T) {
	cases := []struct {
		addr   string
		tokens bool
		ok     bool
	}{
		{"127.0.0.1:8080", false, true},
		{"127.0.0.2:8080", false, true},
		{"[::1]:8080", false, true},
		{"localhost:8080", false, true},
		{"LOCALHOST:8080", false, true},
		{"0.0.0.0:8080", false, false},
		{":8080", false, false},
		{"[::]:8080", false, false},
		{"192.168.1.10:8080", false, false},
		{"10.0.0.1:8080", false, false},
		{"flags.example.com:8080", false, false},
		{"localhost.example.com:8080", false, false},
		{"0.0.0.0:8080", true, true},
		{":8080", true, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s tokens=%v", c.addr, c.tokens), func(t *testing.T) {
			err := checkBind(c.addr, c.tokens)
			if (err == nil) != c.ok {
				t.Fatalf("got %v, want ok=%v", err, c.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "FLAGCACHE_TOKEN") {
				t.Errorf("the error does not say how to fix it: %v", err)
			}
		})
	}

	t.Run("serve refuses 0.0.0.0 without tokens", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "serve", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir())
		if code == 0 || !strings.Contains(stderr, "refusing to listen on 0.0.0.0:0") {
			t.Fatalf("got exit code %d, stderr %q; want a refusal", code, stderr)
		}
	})
	t.Run("serve binds 0.0.0.0 with a token", func(t *testing.T) {
		d := startServe(t, map[string]string{"FLAGCACHE_TOKEN": "tok-0123456789abcdef", "FLAGCACHE_SERVER_LISTEN": "0.0.0.0:0"})
		d.base = strings.Replace(d.base, "0.0.0.0", "127.0.0.1", 1)
		d.token = "tok-0123456789abcdef"
		want(t, d.do(t, "GET", "/v1/flags", ""), 200, "")
	})
}

func TestCommandLine(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		mention string
	}{
		{"no command", nil, nil, 2, "Usage"},
		{"unknown command", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"bad flag", nil, []string{"serve", "--nope"}, 2, "flag provided but not defined"},
		{"stray argument", nil, []string{"serve", "extra"}, 2, `unexpected argument "extra"`},
		{"bad setting from env", map[string]string{"FLAGCACHE_SERVER_READ_TIMEOUT": "soon"}, []string{"serve"}, 1, "server.read_timeout"},
		{"bad setting from a flag", nil, []string{"serve", "--source", "floppy"}, 1, "source.kind"},
		{"missing config file", nil, []string{"serve", "--config", "/nonexistent/flagcache.toml"}, 1, "/nonexistent/flagcache.toml"},
		{"migrate without a DSN", nil, []string{"migrate"}, 2, "postgres.dsn"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.env, c.args...)
			if code != c.code || !strings.Contains(stderr, c.mention) {
				t.Fatalf("got exit code %d, stderr %q; want %d mentioning %q", code, stderr, c.code, c.mention)
			}
		})
	}
	t.Run("version", func(t *testing.T) {
		code, stdout, _ := runCLI(t, nil, "version")
		if code != 0 || !strings.HasPrefix(stdout, "flagcache ") {
			t.Fatalf("got %d %q, want 0 and the version", code, stdout)
		}
	})
	t.Run("help", func(t *testing.T) {
		code, stdout, _ := runCLI(t, nil, "help")
		if code != 0 || !strings.Contains(stdout, "serve") || !strings.Contains(stdout, "migrate") {
			t.Fatalf("got %d %q, want 0 and the commands", code, stdout)
		}
	})
}

// TestShutdown: cancelling serve's context (SIGINT/SIGTERM in main) ends
// open watch streams and run returns 0.
func TestShutdown(t *testing.T) {
	d := startServe(t, nil)
	w := d.watch(t, "")
	stopped := make(chan int)
	go func() { stopped <- d.stop() }()
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch stream was not closed by the shutdown")
	}
	if code := <-stopped; code != 0 {
		t.Fatalf("got exit code %d, want 0:\n%s", code, d.logs.String())
	}
	if !strings.Contains(d.logs.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped log line:\n%s", d.logs.String())
	}
}

// TestWatch: live events after connecting, then an exact resume with
// Last-Event-ID.
func TestWatch(t *testing.T) {
	d := startServe(t, nil)
	create := func(id string) {
		t.Helper()
		want(t, d.do(t, "POST", "/v1/flags", `{"id":"`+id+`","name":"N","kind":"boolean","default_value":true}`), 201, "")
	}
	create("before") // before connecting: not sent without a cursor
	w := d.watch(t, "")
	create("a")
	ev := w.next(t)
	if ev.event != "upsert" || ev.data.ID != "a" || ev.data.Version != 1 || ev.id != fmt.Sprint(ev.data.Revision) {
		t.Fatalf("got %+v, want the upsert of a with id = its revision", ev)
	}
	resumeAt := ev.id
	create("b")
	want(t, d.do(t, "DELETE", "/v1/flags/before", ""), 204, "")
	if ev := w.next(t); ev.data.ID != "b" {
		t.Fatalf("got %+v, want b", ev)
	}
	if ev := w.next(t); ev.event != "delete" || ev.data.ID != "before" || ev.data.Version != 2 {
		t.Fatalf("got %+v, want the delete of before at version 2", ev)
	}
	w.close()

	create("c") // missed while disconnected
	w = d.watch(t, "", "Last-Event-ID: "+resumeAt)
	defer w.close()
	for _, id := range []string{"b", "before", "c"} {
		if ev := w.next(t); string(ev.data.ID) != id {
			t.Fatalf("got %+v, want %s", ev, id)
		}
	}
	create("d")
	if ev := w.next(t); ev.data.ID != "d" {
		t.Fatalf("got %+v, want d: nothing else in between", ev)
	}
}

// TestWatchExpiredCursor: with a 1ms change retention, a delete drops out
// of the feed at once, and a cursor below it gets 410.
func TestWatchExpiredCursor(t *testing.T) {
	d := startServe(t, map[string]string{"FLAGCACHE_SOURCE_CHANGE_RETENTION": "1ms"})
	for _, id := range []string{"a", "b"} {
		want(t, d.do(t, "POST", "/v1/flags", `{"id":"`+id+`","name":"N","kind":"boolean","default_value":true}`), 201, "")
	}
	want(t, d.do(t, "DELETE", "/v1/flags/a", ""), 204, "")
	deadline := time.Now().Add(5 * time.Second)
	for d.do(t, "GET", "/v1/changes?after=1", "").status != 410 {
		if time.Now().After(deadline) {
			t.Fatal("the delete did not leave the feed within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	want(t, d.do(t, "GET", "/v1/watch", "", "Last-Event-ID: 1"), 410, "resync_needed")
	want(t, d.do(t, "GET", "/v1/watch?after=1", ""), 410, "resync_needed")
	w := d.watch(t, "?after=0") // a full sync never expires
	w.close()
}

// TestOTLPTraces: with metrics.otlp_endpoint set, request spans reach the
// collector (flushed at shutdown at the latest).
func TestOTLPTraces(t *testing.T) {
	received := make(chan string, 100)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		received <- r.URL.Path + " " + string(body)
	}))
	defer collector.Close()
	d := startServe(t, map[string]string{"FLAGCACHE_METRICS_OTLP_ENDPOINT": collector.URL})
	want(t, d.do(t, "GET", "/v1/flags/traced", ""), 404, "not_found")
	if code := d.stop(); code != 0 {
		t.Fatalf("got exit code %d", code)
	}
	select {
	case got := <-received:
		if !strings.HasPrefix(got, "/v1/traces ") || !strings.Contains(got, "/v1/flags/{id}") {
			t.Fatalf("got %.200q, want an export to /v1/traces with the request span", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no trace export reached the collector")
	}
}
