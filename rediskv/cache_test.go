package rediskv_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/rediskv"
)

func newCache(t *testing.T, srv *server, opts rediskv.CacheOptions) *rediskv.Cache {
	t.Helper()
	opts.Prefix = srv.prefix
	return rediskv.NewCache(srv.client, opts)
}

// flagAt returns a cache entry for a flag at version.
func flagAt(t testing.TB, id flagcache.ID, version int64) rediskv.Entry {
	t.Helper()
	def := mustFlag(t, id, "Flag "+string(id))
	def.Metadata.Tags = []string{"v" + string(rune('0'+version%10))}
	return rediskv.Entry{ID: id, Version: version, Flag: flagcache.NewStored(def, version, version*10)}
}

func tombstoneAt(id flagcache.ID, version int64) rediskv.Entry {
	return rediskv.Entry{ID: id, Version: version, Deleted: true}
}

func mustPut(t testing.TB, c *rediskv.Cache, e rediskv.Entry, want bool) {
	t.Helper()
	got, err := c.PutIfNewer(context.Background(), e)
	if err != nil {
		t.Fatalf("PutIfNewer(%s v%d): %v", e.ID, e.Version, err)
	}
	if got != want {
		t.Fatalf("PutIfNewer(%s v%d, deleted %v): installed = %v, want %v", e.ID, e.Version, e.Deleted, got, want)
	}
}

// wantEntry checks what Get returns for id.
func wantEntry(t testing.TB, c *rediskv.Cache, id flagcache.ID, want rediskv.Entry, wantOK bool) {
	t.Helper()
	got, ok, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	if ok != wantOK {
		t.Fatalf("Get(%s): found = %v, want %v", id, ok, wantOK)
	}
	if g, w := mustJSON(got), mustJSON(want); g != w {
		t.Fatalf("Get(%s):\n got %s\nwant %s", id, g, w)
	}
}

func TestCacheRoundTrip(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		c := newCache(t, srv, rediskv.CacheOptions{})
		wantEntry(t, c, "checkout", rediskv.Entry{}, false)

		v1, v2 := flagAt(t, "checkout", 1), flagAt(t, "checkout", 2)
		mustPut(t, c, v1, true)
		wantEntry(t, c, "checkout", v1, true)
		mustPut(t, c, v1, false) // equal is not newer
		mustPut(t, c, v2, true)
		mustPut(t, c, v1, false)
		wantEntry(t, c, "checkout", v2, true)

		mustPut(t, c, tombstoneAt("checkout", 3), true)
		wantEntry(t, c, "checkout", tombstoneAt("checkout", 3), true)
		mustPut(t, c, v2, false)
	})
}

// TestCacheKeys: one key per flag, "<prefix>:<id>", without a hash tag, so
// entries spread over a cluster's slots.
func TestCacheKeys(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		c := newCache(t, srv, rediskv.CacheOptions{})
		mustPut(t, c, flagAt(t, "a", 1), true)
		mustPut(t, c, tombstoneAt("b", 1), true)
		keys := keysOf(t, srv.client, srv.prefix+":*")
		want := []string{srv.prefix + ":a", srv.prefix + ":b"}
		if len(keys) != 2 || !(keys[0] == want[0] && keys[1] == want[1] || keys[0] == want[1] && keys[1] == want[0]) {
			t.Errorf("keys: got %q, want %q", keys, want)
		}
	})
}

func TestCacheTTL(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		c := newCache(t, srv, rediskv.CacheOptions{TTL: time.Minute, TombstoneTTL: 10 * time.Second})
		ctx := context.Background()
		mustPut(t, c, flagAt(t, "flag", 1), true)
		mustPut(t, c, tombstoneAt("gone", 4), true)
		if srv.mini == nil { // a real server: read the TTLs instead of waiting
			for key, want := range map[string]time.Duration{srv.prefix + ":flag": time.Minute, srv.prefix + ":gone": 10 * time.Second} {
				got, err := srv.client.PTTL(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				if got <= want-5*time.Second || got > want {
					t.Errorf("PTTL %s: got %v, want just under %v", key, got, want)
				}
			}
			return
		}
		srv.mini.FastForward(11 * time.Second)
		wantEntry(t, c, "gone", rediskv.Entry{}, false)
		wantEntry(t, c, "flag", flagAt(t, "flag", 1), true)
		srv.mini.FastForward(time.Minute)
		wantEntry(t, c, "flag", rediskv.Entry{}, false)
	})
}

// TestCacheCorruptValues: a value of an unknown shape is a miss, logged,
// never served, and a newer entry replaces it.
func TestCacheCorruptValues(t *testing.T) {
	good := flagAt(t, "x", 3)
	goodJSON := mustJSON(good.Flag)
	for _, tc := range []struct {
		name, raw  string
		replacedBy int64 // the lowest version PutIfNewer installs over it
	}{
		{"not an envelope", "hello", 1},
		{"empty", "", 1},
		{"bad version", "v=x;d=0;" + goodJSON, 1},
		{"zero version", "v=0;d=0;" + goodJSON, 1},
		{"no deleted marker", "v=3;" + goodJSON, 4},
		{"bad json", "v=3;d=0;{not json", 4},
		{"no definition", `v=3;d=0;{"version":3}`, 4},
		{"version mismatch", "v=2;d=0;" + goodJSON, 3},
		{"other id", "v=3;d=0;" + strings.Replace(goodJSON, `"id":"x"`, `"id":"y"`, 1), 4},
		{"tombstone with body", "v=3;d=1;" + goodJSON, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachServer(t, func(t *testing.T, srv *server) {
				var logged bytes.Buffer
				c := newCache(t, srv, rediskv.CacheOptions{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
				ctx := context.Background()
				if err := srv.client.Set(ctx, srv.prefix+":x", tc.raw, time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
				wantEntry(t, c, "x", rediskv.Entry{}, false)
				many, err := c.GetMany(ctx, []flagcache.ID{"x"})
				if err != nil || len(many) != 0 {
					t.Errorf("GetMany: got %v, %v; want a miss", many, err)
				}
				if n := strings.Count(logged.String(), "corrupt cache entry"); n != 2 {
					t.Errorf("logged %d warnings, want 2:\n%s", n, logged.String())
				}
				if tc.replacedBy > 1 {
					mustPut(t, c, flagAt(t, "x", tc.replacedBy-1), false)
				}
				mustPut(t, c, flagAt(t, "x", tc.replacedBy), true)
				wantEntry(t, c, "x", flagAt(t, "x", tc.replacedBy), true)
			})
		})
	}
}

func TestCacheGetMany(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		c := newCache(t, srv, rediskv.CacheOptions{})
		ctx := context.Background()
		a, b := flagAt(t, "a", 2), tombstoneAt("b", 5)
		mustPut(t, c, a, true)
		mustPut(t, c, b, true)
		if err := srv.client.Set(ctx, srv.prefix+":corrupt", "junk", 0).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetMany(ctx, []flagcache.ID{"a", "b", "missing", "corrupt", "a"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[flagcache.ID]rediskv.Entry{"a": a, "b": b}
		if g, w := mustJSON(got), mustJSON(want); g != w {
			t.Errorf("GetMany:\n got %s\nwant %s", g, w)
		}
		if got, err := c.GetMany(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("GetMany(nil): got %v, %v; want empty", got, err)
		}
		if _, err := c.GetMany(ctx, []flagcache.ID{"a", "bad id"}); !errors.Is(err, flagcache.ErrInvalidArgument) {
			t.Errorf("GetMany with a bad id: got %v, want ErrInvalidArgument", err)
		}
	})
}

// TestPutIfNewerConcurrent: versions 1..N put in random order from many
// goroutines leave exactly N; a tombstone at k then blocks every put of a
// version up to k, however they race.
func TestPutIfNewerConcurrent(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		const n, k = 200, 120
		c := newCache(t, srv, rediskv.CacheOptions{})
		putAll := func(entries []rediskv.Entry) (installed int) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			work := make(chan rediskv.Entry)
			for range 16 {
				wg.Go(func() {
					for e := range work {
						ok, err := c.PutIfNewer(context.Background(), e)
						if err != nil {
							t.Errorf("PutIfNewer(v%d): %v", e.Version, err)
						}
						if ok {
							mu.Lock()
							installed++
							mu.Unlock()
						}
					}
				})
			}
			for _, e := range entries {
				work <- e
			}
			close(work)
			wg.Wait()
			return installed
		}
		shuffled := func(id flagcache.ID, upTo int64) []rediskv.Entry {
			var out []rediskv.Entry
			for v := int64(1); v <= upTo; v++ {
				out = append(out, flagAt(t, id, v))
			}
			rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			return out
		}

		if installed := putAll(shuffled("race", n)); installed < 1 {
			t.Errorf("installed %d puts, want at least 1", installed)
		}
		wantEntry(t, c, "race", flagAt(t, "race", n), true)

		mustPut(t, c, tombstoneAt("deleted", k), true)
		if installed := putAll(shuffled("deleted", k)); installed != 0 {
			t.Errorf("installed %d puts at versions <= %d over the tombstone, want 0", installed, k)
		}
		wantEntry(t, c, "deleted", tombstoneAt("deleted", k), true)
		mustPut(t, c, flagAt(t, "deleted", k+1), true)
	})
}

func TestPutIfNewerRejectsBadEntries(t *testing.T) {
	c := newCache(t, startMiniredis(t), rediskv.CacheOptions{})
	flag := flagAt(t, "a", 2)
	for _, tc := range []struct {
		name  string
		entry rediskv.Entry
	}{
		{"bad id", rediskv.Entry{ID: "a b", Version: 1, Deleted: true}},
		{"zero version", rediskv.Entry{ID: "a", Version: 0, Deleted: true}},
		{"tombstone with a flag", rediskv.Entry{ID: "a", Version: 2, Deleted: true, Flag: flag.Flag}},
		{"no flag", rediskv.Entry{ID: "a", Version: 2}},
		{"flag of another version", rediskv.Entry{ID: "a", Version: 3, Flag: flag.Flag}},
		{"flag of another id", rediskv.Entry{ID: "b", Version: 2, Flag: flag.Flag}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.PutIfNewer(context.Background(), tc.entry); !errors.Is(err, flagcache.ErrInvalidArgument) {
				t.Errorf("got %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestCacheErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(srv *server)
	}{
		{"loading", func(srv *server) { srv.mini.SetError("LOADING Redis is loading the dataset in memory") }},
		{"closed", func(srv *server) { srv.mini.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startUnretriedMiniredis(t)
			c := newCache(t, srv, rediskv.CacheOptions{})
			mustPut(t, c, flagAt(t, "a", 1), true)
			tc.fail(srv)
			for call, err := range cacheCalls(context.Background(), c) {
				if !errors.Is(err, flagcache.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", call, err)
				}
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		srv := startMiniredis(t)
		c := newCache(t, srv, rediskv.CacheOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for call, err := range cacheCalls(ctx, c) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: got %v, want context.Canceled", call, err)
			}
		}
		wantEntry(t, c, "a", rediskv.Entry{}, false)
	})
}

// cacheCalls runs every Cache method once and returns the errors by call.
func cacheCalls(ctx context.Context, c *rediskv.Cache) map[string]error {
	out := map[string]error{}
	_, _, out["Get"] = c.Get(ctx, "a")
	_, out["GetMany"] = c.GetMany(ctx, []flagcache.ID{"a", "b"})
	_, out["PutIfNewer"] = c.PutIfNewer(ctx, tombstoneAt("a", 9))
	return out
}
