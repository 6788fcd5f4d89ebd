package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
)

func TestWatchBacklogLiveResume(t *testing.T) {
	store := memstore.New(memstore.Options{})
	srv, _ := newServer(t, store, httpapi.Options{WatchPoll: 10 * time.Millisecond})
	for _, id := range []flagcache.ID{"a", "b"} {
		mustCreate(t, store, id)
	}

	s := openStream(t, srv.URL+"/v1/watch?after=0")
	for i, want := range []string{"a", "b"} {
		id, name, data := s.event(t)
		wantData := fmt.Sprintf(`{"id":%q,"version":1,"revision":%d,"actor":"unknown"}`, want, i+1)
		if id != fmt.Sprint(i+1) || name != "upsert" || data != wantData {
			t.Fatalf("backlog event %d: got %s %s %s, want %d upsert %s", i, id, name, data, i+1, wantData)
		}
	}
	// Written straight to the store: found by polling.
	mustCreate(t, store, "c")
	if _, _, data := s.event(t); !strings.Contains(data, `"id":"c"`) {
		t.Fatalf("got %s, want c", data)
	}
	if _, err := store.Delete(context.Background(), "a", 0); err != nil {
		t.Fatal(err)
	}
	if id, name, data := s.event(t); id != "4" || name != "delete" || data != `{"id":"a","version":2,"revision":4,"actor":"unknown"}` {
		t.Fatalf("got %s %s %s, want the delete of a at revision 4", id, name, data)
	}
	s.close()

	// Missed while disconnected: exactly d and e, then live f.
	mustCreate(t, store, "d")
	mustCreate(t, store, "e")
	s = openStream(t, srv.URL+"/v1/watch", "Last-Event-ID: 4")
	for _, want := range []string{"d", "e"} {
		if _, _, data := s.event(t); !strings.Contains(data, `"id":"`+want+`"`) {
			t.Fatalf("got %s, want %s", data, want)
		}
	}
	mustCreate(t, store, "f")
	if id, _, _ := s.event(t); id != "7" {
		t.Fatalf("got event %s, want 7 (f) with nothing in between", id)
	}
}

func TestWatchWithoutCursorStartsNow(t *testing.T) {
	store := memstore.New(memstore.Options{})
	srv, _ := newServer(t, store, httpapi.Options{WatchPoll: 10 * time.Millisecond})
	mustCreate(t, store, "old")
	s := openStream(t, srv.URL+"/v1/watch")
	if line := s.line(t); line != ": watching after revision 1" {
		t.Fatalf("got first line %q, want the cursor comment", line)
	}
	mustCreate(t, store, "new")
	if id, _, data := s.event(t); id != "2" || !strings.Contains(data, `"new"`) {
		t.Fatalf("got %s %s, want only the new flag", id, data)
	}
}

func TestWatchExpiredCursor(t *testing.T) {
	store := memstore.New(memstore.Options{})
	srv, _ := newServer(t, store, httpapi.Options{})
	mustCreate(t, store, "a")
	mustCreate(t, store, "b")
	store.Delete(context.Background(), "a", 0) // revision 3
	if err := store.Compact(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ query, header string }{{"?after=1", ""}, {"", "Last-Event-ID: 2"}, {"?after=99", ""}} {
		var headers []string
		if c.header != "" {
			headers = append(headers, c.header)
		}
		res, body := get(t, "GET", srv.URL+"/v1/watch"+c.query, headers...)
		if res.StatusCode != 410 || errorCode(t, body) != "resync_needed" {
			t.Errorf("%s %s: got %d %s, want 410 resync_needed", c.query, c.header, res.StatusCode, body)
		}
	}
	// At the horizon or after it, and a full sync, are fine.
	openStream(t, srv.URL+"/v1/watch?after=3").close()
	openStream(t, srv.URL+"/v1/watch?after=0").close()
}

// With polling out of the way, Handler.Notify (which a write through the
// handler calls) wakes the stream.
func TestWatchNotify(t *testing.T) {
	store := memstore.New(memstore.Options{})
	srv, h := newServer(t, store, httpapi.Options{WatchPoll: time.Hour})
	s := openStream(t, srv.URL+"/v1/watch?after=0")
	mustCreate(t, store, "a") // behind the handler's back
	h.Notify()
	if _, _, data := s.event(t); !strings.Contains(data, `"a"`) {
		t.Fatalf("got %s, want a", data)
	}
	res, body := post(t, srv.URL+"/v1/flags", `{"id":"b","name":"B","kind":"boolean","default_value":true}`)
	if res.StatusCode != 201 {
		t.Fatalf("got %d %s", res.StatusCode, body)
	}
	if _, _, data := s.event(t); !strings.Contains(data, `"b"`) {
		t.Fatalf("got %s, want b", data)
	}
}

// The server's WriteTimeout does not end a stream; heartbeats flow.
func TestWatchOutlivesWriteTimeout(t *testing.T) {
	store := memstore.New(memstore.Options{})
	h, err := httpapi.NewHandler(store, httpapi.Options{WatchPoll: 10 * time.Millisecond, Heartbeat: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := newUnstarted(h)
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	defer h.Close()

	s := openStream(t, srv.URL+"/v1/watch")
	pings := 0
	start := time.Now()
	for time.Since(start) < 300*time.Millisecond { // three write timeouts
		if s.line(t) == ": ping" {
			pings++
		}
	}
	mustCreate(t, store, "late")
	if _, _, data := s.event(t); !strings.Contains(data, `"late"`) {
		t.Fatalf("got %s, want late", data)
	}
	if pings < 3 {
		t.Errorf("got %d pings in 300ms, want at least 3 at a 20ms heartbeat", pings)
	}
}

func TestCloseEndsWatchStreams(t *testing.T) {
	store := memstore.New(memstore.Options{})
	srv, h := newServer(t, store, httpapi.Options{})
	s := openStream(t, srv.URL+"/v1/watch")
	h.Close()
	s.waitEnd(t)
	res, body := get(t, "GET", srv.URL+"/v1/watch")
	if res.StatusCode != 503 || errorCode(t, body) != "unavailable" {
		t.Fatalf("after Close: got %d %s, want 503 unavailable", res.StatusCode, body)
	}
}
