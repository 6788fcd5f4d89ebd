package client_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
)

// List, Changes and GetMany beyond the API's page size read page after page.
func TestPaging(t *testing.T) {
	const n = 2500
	store := memstore.New(memstore.Options{})
	ctx := ctxFor(t)
	ids := make([]flagcache.ID, n)
	for i := range n {
		ids[i] = flagcache.ID(fmt.Sprintf("f%05d", i))
		if _, err := store.Create(ctx, boolFlag(t, string(ids[i]))); err != nil {
			t.Fatal(err)
		}
	}
	counter := &countingTransport{next: http.DefaultTransport}
	c := newClient(t, startDaemon(t, store, httpapi.Options{}).URL, client.WithHTTPClient(&http.Client{Transport: counter}))

	for _, tc := range []struct {
		name          string
		q             flagcache.Query
		first, length int
		requests      int
	}{
		{"no limit", flagcache.Query{}, 0, n, 3},
		{"offset and limit above a page", flagcache.Query{Offset: 100, Limit: 1500}, 100, 1500, 2},
		{"one page", flagcache.Query{Offset: 10, Limit: 5}, 10, 5, 1},
		{"past the end", flagcache.Query{Offset: n + 1}, 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := counter.count("GET /v1/flags")
			got, err := c.List(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.length {
				t.Fatalf("got %d flags, want %d", len(got), tc.length)
			}
			for i, s := range got {
				if want := ids[tc.first+i]; s.Definition.ID != want {
					t.Fatalf("flag %d: got %s, want %s", i, s.Definition.ID, want)
				}
			}
			if r := counter.count("GET /v1/flags") - before; r != tc.requests {
				t.Errorf("%d requests, want %d", r, tc.requests)
			}
		})
	}

	feed, err := c.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed.Changes) != n || feed.Revision != n || feed.Changes[n-1].Revision != n {
		t.Errorf("Changes(0, 0): %d changes up to revision %d, want %d", len(feed.Changes), feed.Revision, n)
	}
	feed, err = c.Changes(ctx, 100, 1200)
	if err != nil || len(feed.Changes) != 1200 || feed.Changes[0].Revision != 101 {
		t.Errorf("Changes(100, 1200): %d changes from %v, %v; want 1200 from 101", len(feed.Changes), feed.Changes[0].Revision, err)
	}

	found, err := c.GetMany(ctx, append(ids, "missing", ids[0]))
	if err != nil || len(found) != n {
		t.Errorf("GetMany of %d ids: %d found, %v", n+2, len(found), err)
	}
	if got := counter.count("POST /v1/flags:batchGet"); got != 3 {
		t.Errorf("GetMany: %d batches, want 3", got)
	}
}

// A daemon configured with a smaller batchGet cap than wire.MaxPage still
// serves a GetMany of more ids: the first refusal names the cap, the
// client splits the batch to it and keeps to it.
func TestGetManySmallerDaemonCap(t *testing.T) {
	const n, limit = 10, 3
	store := memstore.New(memstore.Options{})
	ids := make([]flagcache.ID, n)
	for i := range ids {
		ids[i] = flagcache.ID(fmt.Sprintf("f%02d", i))
		mustCreate(t, store, string(ids[i]))
	}
	counter := &countingTransport{next: http.DefaultTransport}
	c := newClient(t, startDaemon(t, store, httpapi.Options{MaxBatch: limit}).URL, client.WithHTTPClient(&http.Client{Transport: counter}))
	ctx := ctxFor(t)
	for i, want := range []int{1 + 4, 4} { // the refused batch, then ⌈11/3⌉ batches
		before := counter.count("POST /v1/flags:batchGet")
		found, err := c.GetMany(ctx, append(ids, "missing"))
		if err != nil {
			t.Fatalf("GetMany %d: %v", i, err)
		}
		if len(found) != n {
			t.Errorf("GetMany %d: found %d flags, want %d", i, len(found), n)
		}
		if got := counter.count("POST /v1/flags:batchGet") - before; got != want {
			t.Errorf("GetMany %d: %d batchGet requests, want %d", i, got, want)
		}
	}
}

// Delete takes the tombstone's version and the delete's revision from the
// DELETE response's headers, with no further request; a 204 without them
// (a proxy dropped them) is still a delete that succeeded.
func TestDeleteHeaders(t *testing.T) {
	store := memstore.New(memstore.Options{})
	h, err := httpapi.NewHandler(store, httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	strip := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			if k != "Etag" && k != "X-Flagcache-Revision" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(func() { h.Close(); strip.Close() })
	counter := &countingTransport{next: http.DefaultTransport}
	hc := client.WithHTTPClient(&http.Client{Transport: counter})
	c := newClient(t, startDaemon(t, store, httpapi.Options{}).URL, hc)
	stripped := newClient(t, strip.URL, hc)
	ctx := ctxFor(t)
	for _, id := range []string{"a", "b", "c"} {
		mustCreate(t, c, id)
		if _, err := c.Update(ctx, boolFlag(t, id), 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		c        *client.Client
		id       flagcache.ID
		expected int64
		want     flagcache.Change
	}{
		{c, "a", 0, flagcache.Change{Op: flagcache.OpDelete, ID: "a", Version: 3, Revision: 7, Actor: flagcache.ActorAnonymous}},
		{c, "b", 2, flagcache.Change{Op: flagcache.OpDelete, ID: "b", Version: 3, Revision: 8, Actor: flagcache.ActorAnonymous}},
		{stripped, "c", 2, flagcache.Change{Op: flagcache.OpDelete, ID: "c", Version: 3, Actor: flagcache.ActorAnonymous}},
	} {
		del, err := tc.c.Delete(ctx, tc.id, tc.expected)
		if err != nil {
			t.Fatal(err)
		}
		if del != tc.want {
			t.Errorf("Delete(%s, %d): got %+v, want %+v", tc.id, tc.expected, del, tc.want)
		}
	}
	if got := counter.count("GET /v1/changes"); got != 0 {
		t.Errorf("%d change-feed reads, want 0", got)
	}
}

// A definition is sent as given: <, > and & are not escaped to \u003c…, so
// the daemon stores (and an export → import keeps) the caller's bytes.
func TestWriteSendsDefinitionAsGiven(t *testing.T) {
	h, err := httpapi.NewHandler(memstore.New(memstore.Options{}), httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { h.Close(); srv.Close() })
	c := newClient(t, srv.URL)
	ctx := ctxFor(t)
	def := boolFlag(t, "html")
	def.Description = "<b>a & b</b>"
	if _, err := c.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, def, 1); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, b := range bodies {
		if !strings.Contains(b, `"description":"<b>a & b</b>"`) {
			t.Errorf("write %d sent %s, want the description as given", i, b)
		}
	}
	if len(bodies) != 2 {
		t.Errorf("%d writes sent, want 2", len(bodies))
	}
}
