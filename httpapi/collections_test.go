package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/tiered"
	"github.com/flagcache/flagcache/wire"
)

// collectionRoutes are a poller's requests: every collection route.
var collectionRoutes = []struct{ method, path, body string }{
	{http.MethodGet, "/v1/flags?tag=poll&limit=100", ""},
	{http.MethodGet, "/v1/flags:count?tag=poll", ""},
	{http.MethodGet, "/v1/flags:modifiedSince?since=2000-01-01T00:00:00Z", ""},
	{http.MethodGet, "/v1/changes?after=0", ""},
	{http.MethodPost, "/v1/flags:batchGet", `{"ids":["p0","p1","p9"]}`},
}

// poll does one request of a poller holding etag.
func poll(t *testing.T, base, method, path, body, etag string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res, b.String()
}

func createTagged(t *testing.T, s flagcache.Store, id flagcache.ID) {
	t.Helper()
	def, err := flagcache.NewBoolean(id, string(id), true)
	if err != nil {
		t.Fatal(err)
	}
	def.Metadata.Tags = []string{"poll"}
	if _, err := s.Create(context.Background(), def); err != nil {
		t.Fatal(err)
	}
}

// pollUntilWrite checks that each collection route of base answers 304 to
// its own ETag, again and again, and 200 with a new ETag once write has
// happened somewhere in the fleet (within the invalidation window).
func pollUntilWrite(t *testing.T, base string, write func()) {
	t.Helper()
	etags := make([]string, len(collectionRoutes))
	for i, r := range collectionRoutes {
		res, body := poll(t, base, r.method, r.path, r.body, "")
		etags[i] = res.Header.Get("ETag")
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(etags[i], `"r`) {
			t.Fatalf("%s %s: %d, ETag %q, %s; want 200 with a revision tag", r.method, r.path, res.StatusCode, etags[i], body)
		}
		for range 3 {
			res, _ := poll(t, base, r.method, r.path, r.body, etags[i])
			if res.StatusCode != http.StatusNotModified || res.Header.Get("ETag") != etags[i] {
				t.Fatalf("%s %s with If-None-Match %s: %d, ETag %q; want 304", r.method, r.path, etags[i], res.StatusCode, res.Header.Get("ETag"))
			}
		}
		for j := range i { // tags name their collection only
			if etags[j] == etags[i] {
				t.Fatalf("%s and %s share the ETag %s", collectionRoutes[j].path, r.path, etags[i])
			}
		}
	}
	write()
	for i, r := range collectionRoutes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, _ := poll(t, base, r.method, r.path, r.body, etags[i])
			if res.StatusCode == http.StatusOK {
				if tag := res.Header.Get("ETag"); tag == etags[i] || tag == "" {
					t.Fatalf("%s %s after the write: 200 with ETag %q", r.method, r.path, tag)
				}
				break
			}
			if res.StatusCode != http.StatusNotModified || time.Now().After(deadline) {
				t.Fatalf("%s %s after the write: %d, want 200 with the new revision", r.method, r.path, res.StatusCode)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	res, body := poll(t, base, http.MethodGet, "/v1/flags?tag=poll&limit=100", "", "")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"p9"`) || !strings.Contains(body, `"total":3`) {
		t.Errorf("the list after the write: %d %s; want p9 in it, total 3", res.StatusCode, body)
	}
}

// A poller gets 304 until another sidecar writes; then 200 with the new
// revision, on every collection route.
func TestPollNotModifiedUntilAnotherSidecarWrites(t *testing.T) {
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { client.Close() })
	src := memstore.New(memstore.Options{})
	ropts := tiered.RedisOptions{Client: client, Prefix: "poll:cache", Channel: "poll:inv", HealthInterval: 200 * time.Millisecond}
	a := tiered.New(src, tiered.Options{Redis: ropts})
	b := tiered.New(src, tiered.Options{Redis: ropts})
	t.Cleanup(func() { a.Close(); b.Close() })
	createTagged(t, a, "p0")
	createTagged(t, a, "p1")
	srv, _ := newServer(t, b, httpapi.Options{})
	waitCurrent(t, b, 2)
	pollUntilWrite(t, srv.URL, func() { createTagged(t, a, "p9") })
}

// The same when the write is plain SQL on Postgres, made behind every
// sidecar's back: the source's notification moves the revision.
func TestPollNotModifiedUntilSQLWrite(t *testing.T) {
	src, schema := pgtest.NewStore(t, pgsource.Options{})
	s := tiered.New(src, tiered.Options{})
	t.Cleanup(func() { s.Close() })
	createTagged(t, s, "p0")
	createTagged(t, s, "p1")
	srv, _ := newServer(t, s, httpapi.Options{})
	waitCurrent(t, s, 2)
	raw := pgtest.RawWriter(t, schema)
	pollUntilWrite(t, srv.URL, func() {
		if err := raw(context.Background(), "p9", []byte(`{"id":"p9","name":"p9","kind":"boolean","default_value":true,"metadata":{"tags":["poll"]}}`)); err != nil {
			t.Fatal(err)
		}
	})
}

func waitCurrent(t *testing.T, s *tiered.Store, rev int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, ok, _ := s.CollectionRevision()
		if ok && got == rev {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CollectionRevision() = %d, %v; want %d", got, ok, rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// downSource fails every call as unavailable once down is set.
type downSource struct {
	flagcache.Store
	down atomic.Bool
}

func (d *downSource) fail() error {
	if d.down.Load() {
		return flagcache.Unavailable(context.DeadlineExceeded)
	}
	return nil
}

func (d *downSource) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	if err := d.fail(); err != nil {
		return nil, err
	}
	return d.Store.Get(ctx, id)
}

func (d *downSource) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	if err := d.fail(); err != nil {
		return nil, err
	}
	return d.Store.List(ctx, q)
}

func (d *downSource) Count(ctx context.Context, q flagcache.Query) (int, error) {
	if err := d.fail(); err != nil {
		return 0, err
	}
	return d.Store.Count(ctx, q)
}

func (d *downSource) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if err := d.fail(); err != nil {
		return nil, err
	}
	return d.Store.Changes(ctx, after, limit)
}

// With the source down, a list read before is served from memory marked
// stale (and a poller still gets 304, marked stale), not 503; a list never
// read is 503.
func TestCollectionsStaleWhileSourceDown(t *testing.T) {
	src := &downSource{Store: memstore.New(memstore.Options{})}
	s := tiered.New(src, tiered.Options{})
	t.Cleanup(func() { s.Close() })
	createTagged(t, s, "p0")
	srv, _ := newServer(t, s, httpapi.Options{})
	const path = "/v1/flags?tag=poll"
	before, want := poll(t, srv.URL, http.MethodGet, path, "", "")
	if before.StatusCode != http.StatusOK || before.Header.Get(wire.StaleHeader) != "" {
		t.Fatalf("before: %d, stale %q", before.StatusCode, before.Header.Get(wire.StaleHeader))
	}
	src.down.Store(true)
	// Served from memory, a list does not ask the source; the first read
	// that does finds it down, and from then on collections are marked.
	if res, _ := poll(t, srv.URL, http.MethodGet, "/v1/flags/missing", "", ""); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET of a flag never read, source down: %d, want 503", res.StatusCode)
	}
	for range 3 {
		res, body := poll(t, srv.URL, http.MethodGet, path, "", "")
		if res.StatusCode != http.StatusOK || res.Header.Get(wire.StaleHeader) != "true" || body != want || res.Header.Get("ETag") != before.Header.Get("ETag") {
			t.Fatalf("source down: %d, stale %q, ETag %q, %s; want the same page marked stale", res.StatusCode, res.Header.Get(wire.StaleHeader), res.Header.Get("ETag"), body)
		}
	}
	res, _ := poll(t, srv.URL, http.MethodGet, path, "", before.Header.Get("ETag"))
	if res.StatusCode != http.StatusNotModified || res.Header.Get(wire.StaleHeader) != "true" {
		t.Errorf("poll with the source down: %d, stale %q; want 304 marked stale", res.StatusCode, res.Header.Get(wire.StaleHeader))
	}
	if res, body := poll(t, srv.URL, http.MethodGet, "/v1/flags?owner=nobody", "", ""); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a list never read, source down: %d %s; want 503", res.StatusCode, body)
	}
}

// Over a store that does not serve collections from memory the routes
// read it every time and send no ETag.
func TestCollectionsOverBareStore(t *testing.T) {
	src := memstore.New(memstore.Options{})
	createTagged(t, src, "p0")
	srv, _ := newServer(t, src, httpapi.Options{})
	res, body := poll(t, srv.URL, http.MethodGet, "/v1/flags?tag=poll", "", `"r1.0"`)
	if res.StatusCode != http.StatusOK || res.Header.Get("ETag") != "" || !strings.Contains(body, `"total":1`) {
		t.Errorf("bare store: %d, ETag %q, %s", res.StatusCode, res.Header.Get("ETag"), body)
	}
}

// farModified is a store whose ModifiedSince pages end with a flag its
// books say was written past year 9999, as another writer may set
// Postgres' updated_at column.
type farModified struct{ *memstore.Store }

func (s farModified) ModifiedSincePage(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	page, err := flagcache.ModifiedSincePage(ctx, s.Store, since, afterID, limit)
	if n := len(page); n > 0 {
		last := *page[n-1]
		last.Modified = time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)
		page[n-1] = &last
	}
	return page, err
}

// TestModifiedSinceCursorPastYear9999: a full page whose last flag's
// updated_at JSON cannot write (RFC 3339 has four-digit years) is served
// as valid JSON, without a next cursor, instead of `"next":}`.
func TestModifiedSinceCursorPastYear9999(t *testing.T) {
	store := farModified{memstore.New(memstore.Options{})}
	mustCreate(t, store, "a")
	mustCreate(t, store, "b")
	srv, _ := newServer(t, store, httpapi.Options{})
	res, body := get(t, "GET", srv.URL+"/v1/flags:modifiedSince?since=2000-01-01T00:00:00Z&limit=1")
	if res.StatusCode != 200 || !json.Valid([]byte(body)) {
		t.Fatalf("got %d, valid JSON %v: %s", res.StatusCode, json.Valid([]byte(body)), body)
	}
	if strings.Contains(body, `"next"`) {
		t.Errorf("a cursor past year 9999 was sent: %s", body)
	}
}
