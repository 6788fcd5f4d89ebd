package rediskv_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/rediskv"
)

func newStore(t *testing.T, srv *server) *rediskv.Store {
	t.Helper()
	return rediskv.New(srv.client, rediskv.Options{Prefix: srv.prefix})
}

func mustFlag(t testing.TB, id flagcache.ID, name string) *flagcache.Definition {
	t.Helper()
	def, err := flagcache.NewBoolean(id, name, false)
	if err != nil {
		t.Fatal(err)
	}
	return def
}

func mustCreate(t testing.TB, s flagcache.Store, def *flagcache.Definition) *flagcache.Stored {
	t.Helper()
	got, err := s.Create(context.Background(), def)
	if err != nil {
		t.Fatalf("Create(%s): %v", def.ID, err)
	}
	return got
}

// TestUpdateIsOneEvalsha counts the commands the client sends: an update,
// once the script is cached on the server, is exactly one EVALSHA.
func TestUpdateIsOneEvalsha(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		counter := newCommandCounter()
		srv.client.AddHook(counter)
		s := newStore(t, srv)
		ctx := context.Background()
		created := mustCreate(t, s, mustFlag(t, "checkout", "Checkout"))
		counter.drain()

		def := created.Definition.Clone()
		def.Status = flagcache.StatusActive
		if _, err := s.Update(ctx, def, created.Version); err != nil {
			t.Fatal(err)
		}
		if got := counter.drain(); !slices.Equal(got, []string{"evalsha"}) {
			t.Errorf("Update sent %q, want exactly [evalsha]", got)
		}
	})
}

// TestScriptsSurviveScriptFlush empties the server's script cache, as a
// restart or failover does: the next write gets NOSCRIPT and Script.Run
// falls back to EVAL.
func TestScriptsSurviveScriptFlush(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		s := newStore(t, srv)
		ctx := context.Background()
		created := mustCreate(t, s, mustFlag(t, "checkout", "Checkout"))
		if err := srv.client.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		updated, err := s.Update(ctx, created.Definition.Clone(), created.Version)
		if err != nil {
			t.Fatalf("Update after SCRIPT FLUSH: %v", err)
		}
		if updated.Version != 2 {
			t.Errorf("version: got %d, want 2", updated.Version)
		}
		if _, err := s.Changes(ctx, 0, 0); err != nil {
			t.Errorf("Changes after SCRIPT FLUSH: %v", err)
		}
	})
}

// TestMiniredisRestart restarts the server under a live client: the client
// reconnects and the scripts run again.
func TestMiniredisRestart(t *testing.T) {
	srv := startMiniredis(t)
	s := newStore(t, srv)
	ctx := context.Background()
	created := mustCreate(t, s, mustFlag(t, "checkout", "Checkout"))
	srv.mini.Close()
	if err := srv.mini.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := srv.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, created.Definition.Clone(), created.Version); err != nil {
		t.Fatalf("Update after restart: %v", err)
	}
}

// TestKeysShareOneHashTag checks that every key of a store carries the
// hash tag "{prefix}", so Redis Cluster keeps them in one slot.
func TestKeysShareOneHashTag(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		s := newStore(t, srv)
		ctx := context.Background()
		def := mustFlag(t, "checkout", "Checkout")
		def.Metadata.Tags = []string{"payments"}
		def.Environments = map[string]flagcache.Environment{"production": {Enabled: true}}
		mustCreate(t, s, def)
		mustCreate(t, s, mustFlag(t, "search", "Search"))
		if _, err := s.Delete(ctx, "search", 0); err != nil {
			t.Fatal(err)
		}
		keys := keysOf(t, srv.client, "*"+srv.prefix+"*")
		if len(keys) == 0 {
			t.Fatal("no keys written")
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "{"+srv.prefix+"}:") {
				t.Errorf("key %q lacks the hash tag {%s}", k, srv.prefix)
			}
		}
	})
}

// TestListOrderIsBytewise lists flags with random names drawn from bytes
// that trip up naive encodings (\x01, DEL, a multi-byte rune; NUL is refused) and
// wants flagcache.CompareStored's order, page by page.
func TestListOrderIsBytewise(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		s := newStore(t, srv)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(3, 4))
		alphabet := []string{"\x01", "\x02", "a", "b", "\x7f", "ä"} // NUL is no valid name
		for i := range 60 {
			name := alphabet[rng.IntN(len(alphabet))]
			for range rng.IntN(4) {
				name += alphabet[rng.IntN(len(alphabet))]
			}
			id := flagcache.ID([]string{"x", "y", "z"}[i%3] + strings.Repeat("1", i/3))
			mustCreate(t, s, mustFlag(t, id, name))
		}
		all, err := s.List(ctx, flagcache.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 60 {
			t.Fatalf("got %d flags, want 60", len(all))
		}
		if !slices.IsSortedFunc(all, flagcache.CompareStored) {
			t.Errorf("List is not in name, id order: %q", names(all))
		}
		for offset := 0; offset < 60; offset += 7 {
			page, err := s.List(ctx, flagcache.Query{Offset: offset, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if want := all[offset:min(offset+7, 60)]; !slices.Equal(names(page), names(want)) {
				t.Errorf("page at %d: got %q, want %q", offset, names(page), names(want))
			}
		}
	})
}

func names(flags []*flagcache.Stored) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = f.Definition.Name + "/" + string(f.Definition.ID)
	}
	return out
}

// TestStoreErrors injects server errors and a dead server: a server that
// cannot serve is flagcache.ErrUnavailable, any other reply an error that
// does not leak go-redis's type.
func TestStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fail        func(srv *server)
		unavailable bool
	}{
		{"loading", func(srv *server) { srv.mini.SetError("LOADING Redis is loading the dataset in memory") }, true},
		{"masterdown", func(srv *server) { srv.mini.SetError("MASTERDOWN Link with MASTER is down") }, true},
		{"readonly", func(srv *server) { srv.mini.SetError("READONLY You can't write against a read only replica.") }, true},
		{"closed", func(srv *server) { srv.mini.Close() }, true},
		{"other reply", func(srv *server) { srv.mini.SetError("ERR something unexpected") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startUnretriedMiniredis(t)
			s := newStore(t, srv)
			created := mustCreate(t, s, mustFlag(t, "checkout", "Checkout"))
			tc.fail(srv)
			for call, err := range storeCalls(context.Background(), s, created) {
				if err == nil || errors.Is(err, flagcache.ErrUnavailable) != tc.unavailable {
					t.Errorf("%s: got %v, want unavailable = %v", call, err, tc.unavailable)
				}
				var redisErr redis.Error
				if errors.As(err, &redisErr) && !tc.unavailable {
					t.Errorf("%s: leaks a redis.Error: %v", call, err)
				}
			}
		})
	}
}

// startUnretriedMiniredis is startMiniredis with a client that does not
// retry, so a dead server fails fast.
func startUnretriedMiniredis(t *testing.T) *server {
	srv := startMiniredis(t)
	srv.client = redis.NewClient(&redis.Options{Addr: srv.mini.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { srv.client.Close() })
	return srv
}

// TestStoreCancelledContext: every call on a cancelled context returns
// context.Canceled and writes nothing.
func TestStoreCancelledContext(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		s := newStore(t, srv)
		created := mustCreate(t, s, mustFlag(t, "checkout", "Checkout"))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for call, err := range storeCalls(ctx, s, created) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: got %v, want context.Canceled", call, err)
			}
		}
		feed, err := s.Changes(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if feed.Revision != created.Revision {
			t.Errorf("revision after cancelled writes: got %d, want %d", feed.Revision, created.Revision)
		}
	})
}

// storeCalls runs every Store method once and returns the errors by call.
func storeCalls(ctx context.Context, s *rediskv.Store, existing *flagcache.Stored) map[string]error {
	def := existing.Definition.Clone()
	other := def.Clone()
	other.ID = "other"
	out := map[string]error{}
	_, out["Get"] = s.Get(ctx, def.ID)
	_, out["GetMany"] = s.GetMany(ctx, []flagcache.ID{def.ID})
	_, out["Exists"] = s.Exists(ctx, def.ID)
	_, out["List"] = s.List(ctx, flagcache.Query{})
	_, out["List (intersection)"] = s.List(ctx, flagcache.Query{Owner: "x", Tags: []string{"a"}})
	_, out["Count"] = s.Count(ctx, flagcache.Query{})
	_, out["ModifiedSince"] = s.ModifiedSince(ctx, time.Time{})
	_, out["Changes"] = s.Changes(ctx, 0, 0)
	out["Compact"] = s.Compact(ctx, time.Now())
	_, out["Create"] = s.Create(ctx, other)
	_, out["Update"] = s.Update(ctx, def, 0)
	_, out["Delete"] = s.Delete(ctx, def.ID, 0)
	return out
}

// TestValueNotAnEnvelope: a value of the flags hash that is not an
// envelope (another writer's, in whatever shape) is still the flag the
// store's books name, at their version and revision: served as the whole
// value, marked, on every read path, and the other flags with it; it can
// be overwritten.
func TestValueNotAnEnvelope(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		s := newStore(t, srv)
		ctx := context.Background()
		mustCreate(t, s, mustFlag(t, "a", "A"))
		for _, value := range []string{"{not json", `{"v":"x"}`, `{"v":0,"r":1,"d":{}}`, `[1,2]`} {
			t.Run(value, func(t *testing.T) {
				def := mustFlag(t, "odd", "Odd")
				want, err := s.Create(ctx, def)
				if err != nil {
					t.Fatal(err)
				}
				if err := srv.client.HSet(ctx, "{"+srv.prefix+"}:flags", "odd", value).Err(); err != nil {
					t.Fatal(err)
				}
				check := func(where string, f *flagcache.Stored) {
					t.Helper()
					if f == nil || f.Malformed == "" || f.Version != want.Version || f.Revision != want.Revision || f.Definition.ID != "odd" {
						t.Errorf("%s: %+v, want version %d, revision %d, marked", where, f, want.Version, want.Revision)
					}
				}
				got, err := s.Get(ctx, "odd")
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				check("Get", got)
				many, err := s.GetMany(ctx, []flagcache.ID{"a", "odd"})
				if err != nil || len(many) != 2 {
					t.Fatalf("GetMany = %v, %v", many, err)
				}
				check("GetMany", many["odd"])
				list, err := s.List(ctx, flagcache.Query{})
				if err != nil || len(list) != 2 {
					t.Fatalf("List = %v, %v", list, err)
				}
				mod, err := s.ModifiedSince(ctx, time.Time{})
				if err != nil || len(mod) != 2 {
					t.Fatalf("ModifiedSince = %v, %v", mod, err)
				}
				feed, err := s.Changes(ctx, 0, 0)
				if err != nil || len(feed.Changes) != 2 {
					t.Fatalf("Changes = %+v, %v", feed, err)
				}
				check("Changes", feed.Changes[1].Flag)
				if _, err := s.History(ctx, "odd", 0, 0); err != nil {
					t.Errorf("History: %v", err)
				}
				if _, err := s.Delete(ctx, "odd", got.Version); err != nil {
					t.Fatalf("Delete over it: %v", err)
				}
			})
		}
	})
}
