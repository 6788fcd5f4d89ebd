package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
)

// next returns the next event, failing after 10s.
func next(t *testing.T, events <-chan client.Event) client.Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the event channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return client.Event{}
}

func TestWatch(t *testing.T) {
	daemon := memDaemon(t)
	c := newClient(t, daemon.URL)
	ctx := ctxFor(t)
	a := mustCreate(t, c, "a")
	mustCreate(t, c, "b")

	t.Run("from 0 replays the feed, then live", func(t *testing.T) {
		events, err := c.Watch(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []client.Event{{Op: flagcache.OpUpsert, ID: "a", Version: 1, Revision: 1, Actor: "anonymous"}, {Op: flagcache.OpUpsert, ID: "b", Version: 1, Revision: 2, Actor: "anonymous"}} {
			if got := next(t, events); got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		}
	})
	t.Run("from now skips the past", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		events, err := c.Watch(wctx, client.FromNow)
		if err != nil {
			t.Fatal(err)
		}
		del, err := c.Delete(flagcache.WithActor(ctx, "alice"), "a", a.Version)
		if err != nil {
			t.Fatal(err)
		}
		want := client.Event{Op: flagcache.OpDelete, ID: "a", Version: del.Version, Revision: del.Revision, Actor: "alice"}
		if got := next(t, events); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		cancel()
		for range events {
		}
	})
}

// A cut stream resumes where it stopped: every write made meanwhile is
// announced once, in order.
func TestWatchResumes(t *testing.T) {
	daemon := memDaemon(t)
	px := startProxy(t, daemon.Listener.Addr().String())
	writer := newClient(t, daemon.URL)
	watcher := newClient(t, px.URL(), client.WithBackoff(time.Millisecond, 20*time.Millisecond))
	events, err := watcher.Watch(ctxFor(t), client.FromNow)
	if err != nil {
		t.Fatal(err)
	}
	var revs []int64
	for i := range 30 {
		if i == 10 {
			px.sever(true)
		}
		if i == 25 {
			px.resume()
		}
		revs = append(revs, mustCreate(t, writer, fmt.Sprintf("f%d", i)).Revision)
	}
	for i, want := range revs {
		if got := next(t, events); got.Revision != want || got.ID != flagcache.ID(fmt.Sprintf("f%d", i)) {
			t.Fatalf("event %d: got %+v, want f%d at revision %d", i, got, i, want)
		}
	}
}

// An expired cursor fails Watch at once; one that expires while the stream
// is down comes back as an OpResync event.
func TestWatchResync(t *testing.T) {
	store := memstore.New(memstore.Options{})
	daemon := startDaemon(t, store, httpapi.Options{})
	px := startProxy(t, daemon.Listener.Addr().String())
	writer := newClient(t, daemon.URL)
	watcher := newClient(t, px.URL(), client.WithBackoff(time.Millisecond, 20*time.Millisecond))
	ctx := ctxFor(t)

	mustCreate(t, writer, "a")
	mustCreate(t, writer, "b")
	events, err := watcher.Watch(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	px.sever(true)
	del, err := writer.Delete(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Compact(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := watcher.Watch(ctx, 1); !errors.Is(err, flagcache.ErrUnavailable) {
		t.Fatalf("Watch while cut off: got %v, want ErrUnavailable", err)
	}
	px.resume()
	if _, err := watcher.Watch(ctx, 1); !errors.Is(err, flagcache.ErrResyncNeeded) {
		t.Fatalf("Watch after an expired cursor: got %v, want ErrResyncNeeded", err)
	}
	if got := next(t, events); got.Op != client.OpResync || got.Revision != del.Revision {
		t.Fatalf("got %+v, want a resync at revision %d", got, del.Revision)
	}
	c := mustCreate(t, writer, "c")
	if got := next(t, events); got.ID != "c" || got.Revision != c.Revision {
		t.Fatalf("after the resync: got %+v, want c at %d", got, c.Revision)
	}
}

func TestWatchEndsOnClose(t *testing.T) {
	c, err := client.New(memDaemon(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	events, err := c.Watch(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("got an event from an empty store")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the channel did not close")
	}
}
