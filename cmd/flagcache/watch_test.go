package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

// sseEvent is one Server-Sent Event of /v1/watch.
type sseEvent struct {
	id    string
	event string
	data  struct {
		ID       flagcache.ID
		Version  int64
		Revision int64
	}
}

// watcher is an open /v1/watch stream.
type watcher struct {
	events chan sseEvent
	cancel context.CancelFunc
	ended  chan struct{}
}

// watch opens /v1/watch with query and headers, checks the 200 response
// against the spec (status and headers) and reads events in the background.
func (d *testDaemon) watch(t *testing.T, query string, headers ...string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req := d.request(t, "GET", "/v1/watch"+query, "", headers...).WithContext(ctx)
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /v1/watch%s: %v", query, err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		t.Fatalf("GET /v1/watch%s: got %d %s, want 200 text/event-stream; body %s", query, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	d.spec.validate(t, req, res.StatusCode, res.Header, nil)
	w := &watcher{events: make(chan sseEvent, 100), cancel: cancel, ended: make(chan struct{})}
	go func() {
		defer close(w.ended)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					w.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			}
		}
	}()
	return w
}

// next returns the next event, failing after 5s without one.
func (w *watcher) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev := <-w.events:
		return ev
	case <-w.ended:
		t.Fatal("the watch stream ended")
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return sseEvent{}
}

func (w *watcher) close() {
	w.cancel()
	<-w.ended
}
