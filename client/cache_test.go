package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
)

// cachedClient is a client with a local cache whose requests are counted,
// connected to its watch stream.
func cachedClient(t *testing.T, base string, opts ...client.Option) (*client.Client, *countingTransport) {
	t.Helper()
	counter := &countingTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	c := newClient(t, base, append([]client.Option{client.WithLocalCache(100), client.WithHTTPClient(&http.Client{Transport: counter}),
		client.WithBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)...)
	eventually(t, "the watch stream to open", func() bool { return c.Stats().Connected })
	return c, counter
}

// flagRequests counts the requests for one flag and batches.
func flagRequests(ct *countingTransport, ids ...string) int {
	n := ct.count("POST /v1/flags:batchGet")
	for _, id := range ids {
		n += ct.count("GET /v1/flags/"+id) + ct.count("HEAD /v1/flags/"+id)
	}
	return n
}

// Two clients with local caches on one daemon: a write through one reaches
// the other's cache through its watch stream. Then the other's stream is
// cut while 100 writes happen: on reconnection it resumes with
// Last-Event-ID and its cache holds exactly the latest versions, purging
// nothing.
func TestLocalCacheTwoClients(t *testing.T) {
	daemon := memDaemon(t)
	px := startProxy(t, daemon.Listener.Addr().String())
	writer, _ := cachedClient(t, daemon.URL)
	reader, rc := cachedClient(t, px.URL())
	ctx := ctxFor(t)

	const written, untouched = 10, 5
	var ids []string
	for i := range written + untouched {
		ids = append(ids, fmt.Sprintf("f%02d", i))
		mustCreate(t, writer, ids[i])
	}
	for _, id := range ids {
		if _, err := reader.Get(ctx, flagcache.ID(id)); err != nil {
			t.Fatal(err)
		}
	}
	// Served from the cache: no more requests.
	before := flagRequests(rc, ids...)
	for _, id := range ids {
		hit, err := reader.GetHit(ctx, flagcache.ID(id))
		if err != nil || hit.Tier != client.TierLocal || hit.Stored.Version != 1 {
			t.Fatalf("cached Get(%s): %+v, %v; want version 1 from the local tier", id, hit, err)
		}
		if ok, err := reader.Exists(ctx, flagcache.ID(id)); !ok || err != nil {
			t.Fatalf("cached Exists(%s): %v, %v", id, ok, err)
		}
	}
	if got := flagRequests(rc, ids...); got != before {
		t.Fatalf("cached reads made %d requests, want 0", got-before)
	}

	// A write through one client reaches the other once its event does.
	upd := boolFlag(t, ids[0])
	upd.Description = "changed"
	if _, err := writer.Update(ctx, upd, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reader's cache to take version 2", func() bool {
		s, _, ok := client.Peek(reader, flagcache.ID(ids[0]))
		return ok && s != nil && s.Version == 2
	})
	if got, err := reader.Get(ctx, flagcache.ID(ids[0])); err != nil || got.Definition.Description != "changed" {
		t.Fatalf("reader after the event: %+v, %v", got, err)
	}

	// Cut the reader's stream; write 100 times meanwhile.
	px.sever(true)
	eventually(t, "the reader to notice the cut", func() bool { return !reader.Stats().Connected })
	latest := map[string]int64{ids[0]: 2}
	var lastRev int64
	for i := range 100 {
		id := ids[i%written]
		s, err := writer.Update(ctx, boolFlag(t, id), 0)
		if err != nil {
			t.Fatal(err)
		}
		latest[id], lastRev = s.Version, s.Revision
	}
	// Not coherent: reads bypass the cache and fail while the daemon is out of reach...
	if hit, err := reader.GetHit(ctx, flagcache.ID(ids[0])); err != nil || !hit.Stale {
		t.Errorf("Get while cut off: %+v, %v; want the cached copy marked stale", hit, err)
	}
	px.resume()
	eventually(t, "the reader to catch up", func() bool {
		st := reader.Stats()
		return st.Connected && st.Revision >= lastRev
	})
	eventually(t, "the refreshes to land", func() bool {
		for _, id := range ids[:written] {
			s, _, ok := client.Peek(reader, flagcache.ID(id))
			if !ok || s == nil || s.Version != latest[id] {
				return false
			}
		}
		return true
	})

	st := reader.Stats()
	if st.Purges != 0 || st.Reconnects == 0 {
		t.Errorf("stats after the cut: %+v; want 0 purges and a reconnection", st)
	}
	before = flagRequests(rc, ids...)
	for i, id := range ids {
		want := int64(1)
		if i < written {
			want = latest[id]
		}
		hit, err := reader.GetHit(ctx, flagcache.ID(id))
		if err != nil || hit.Tier != client.TierLocal || hit.Stored.Version != want {
			t.Errorf("Get(%s) after reconnecting: %+v, %v; want version %d from the local tier", id, hit, err, want)
		}
	}
	if got := flagRequests(rc, ids...); got != before {
		t.Errorf("reads after reconnecting made %d requests, want 0", got-before)
	}
}

// A cursor that expired while the stream was down purges the cache.
func TestLocalCacheResyncPurges(t *testing.T) {
	store := memstore.New(memstore.Options{})
	daemon := startDaemon(t, store, httpapi.Options{})
	px := startProxy(t, daemon.Listener.Addr().String())
	reader, _ := cachedClient(t, px.URL())
	writer := newClient(t, daemon.URL)
	ctx := ctxFor(t)
	mustCreate(t, writer, "a")
	mustCreate(t, writer, "b")
	for _, id := range []flagcache.ID{"a", "b"} {
		if _, err := reader.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the creates' events", func() bool { return reader.Stats().Revision == 2 })

	px.sever(true)
	eventually(t, "the reader to notice the cut", func() bool { return !reader.Stats().Connected })
	if _, err := writer.Delete(ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Update(ctx, boolFlag(t, "b"), 0); err != nil {
		t.Fatal(err)
	}
	if err := store.Compact(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	px.resume()
	eventually(t, "the purge", func() bool { st := reader.Stats(); return st.Purges == 1 && st.Connected })
	if _, _, ok := client.Peek(reader, "a"); ok {
		t.Errorf("a is still cached after the purge")
	}
	if _, err := reader.Get(ctx, "a"); !errors.Is(err, flagcache.ErrNotFound) {
		t.Errorf("Get(a) after the purge: %v, want ErrNotFound", err)
	}
	if got, err := reader.Get(ctx, "b"); err != nil || got.Version != 2 {
		t.Errorf("Get(b) after the purge: %+v, %v; want version 2", got, err)
	}
}

// A fill that read a version older than one the watch announced during
// the read is not installed. The read asks again; without retries it
// returns what it read, marked stale.
func TestLocalCacheFillRace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retries int
		version int64 // the racing read's answer
		stale   bool
		gets    int // GET /v1/flags/x sent
	}{
		{"asked again", 2, 2, false, 2},
		{"no retries", 0, 1, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			daemon := memDaemon(t)
			reader, rc := cachedClient(t, daemon.URL, client.WithRetries(tc.retries))
			writer := newClient(t, daemon.URL)
			ctx := ctxFor(t)
			mustCreate(t, writer, "x")
			client.SetBeforeInstall(reader, func(id flagcache.ID) {
				client.SetBeforeInstall(reader, nil)
				s, err := writer.Update(ctx, boolFlag(t, "x"), 1)
				if err != nil {
					t.Error(err)
					return
				}
				eventually(t, "the update's event", func() bool { return reader.Stats().Revision >= s.Revision })
			})
			hit, err := reader.GetHit(ctx, "x")
			if err != nil || hit.Stored.Version != tc.version || hit.Stale != tc.stale {
				t.Fatalf("racing Get: %+v (stale %v), %v; want version %d, stale %v", hit.Stored, hit.Stale, err, tc.version, tc.stale)
			}
			if n := rc.count("GET /v1/flags/x"); n != tc.gets {
				t.Errorf("GET /v1/flags/x sent %d times, want %d", n, tc.gets)
			}
			if s, v, ok := client.Peek(reader, "x"); ok && v < 2 {
				t.Fatalf("the stale read was installed: %+v at version %d", s, v)
			}
			if got, err := reader.Get(ctx, "x"); err != nil || got.Version != 2 {
				t.Fatalf("Get after the race: %+v, %v; want version 2", got, err)
			}
		})
	}
}

// Deletes leave tombstones in the cache: a read of a deleted flag stays
// local, and a re-create drops the tombstone.
func TestLocalCacheTombstones(t *testing.T) {
	daemon := memDaemon(t)
	reader, rc := cachedClient(t, daemon.URL)
	writer := newClient(t, daemon.URL)
	ctx := ctxFor(t)
	mustCreate(t, writer, "d")
	if _, err := reader.Get(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	del, err := writer.Delete(ctx, "d", 0)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the tombstone", func() bool { s, v, ok := client.Peek(reader, "d"); return ok && s == nil && v == del.Version })
	before := flagRequests(rc, "d")
	if _, err := reader.Get(ctx, "d"); !errors.Is(err, flagcache.ErrNotFound) {
		t.Errorf("Get of the deleted flag: %v, want ErrNotFound", err)
	}
	if ok, err := reader.Exists(ctx, "d"); ok || err != nil {
		t.Errorf("Exists of the deleted flag: %v, %v", ok, err)
	}
	if got, err := reader.GetMany(ctx, []flagcache.ID{"d"}); err != nil || len(got) != 0 {
		t.Errorf("GetMany of the deleted flag: %v, %v", got, err)
	}
	if got := flagRequests(rc, "d"); got != before {
		t.Errorf("reads of the tombstone made %d requests, want 0", got-before)
	}
	again := mustCreate(t, writer, "d")
	eventually(t, "the re-create", func() bool {
		got, err := reader.Get(ctx, "d")
		return err == nil && got.Version == again.Version
	})
}

// Own writes go into the cache: the writer reads them back locally.
func TestLocalCacheReadsOwnWrites(t *testing.T) {
	c, ct := cachedClient(t, memDaemon(t).URL)
	ctx := ctxFor(t)
	s := mustCreate(t, c, "w")
	u, err := c.Update(ctx, s.Definition, 1)
	if err != nil {
		t.Fatal(err)
	}
	hit, err := c.GetHit(ctx, "w")
	if err != nil || hit.Tier != client.TierLocal || hit.Stored.Version != u.Version {
		t.Errorf("GetHit after own update: %+v, %v; want version %d from the local tier", hit, err, u.Version)
	}
	if got := ct.count("GET /v1/flags/w"); got != 0 {
		t.Errorf("%d reads of w, want 0", got)
	}
	many, err := c.GetMany(ctx, []flagcache.ID{"w", "nope"})
	if err != nil || len(many) != 1 || many["w"].Version != u.Version {
		t.Errorf("GetMany: %v, %v", many, err)
	}
	// "nope" is now cached as absent.
	before := flagRequests(ct, "nope")
	if _, err := c.Get(ctx, "nope"); !errors.Is(err, flagcache.ErrNotFound) {
		t.Errorf("Get(nope): %v", err)
	}
	if got := flagRequests(ct, "nope"); got != before {
		t.Errorf("negative read made %d requests, want 0", got-before)
	}
}
