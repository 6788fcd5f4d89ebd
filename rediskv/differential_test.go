package rediskv_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/rediskv"
)

// clock is a settable time source shared by two stores.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// TestMatchesMemstore runs one random sequence of calls on rediskv and on
// memstore, the reference implementation, and wants the same answer to
// every call. The pools of names, tags and ids are small, so flags collide,
// are deleted and re-created, and names that differ only after a NUL byte
// test the bytewise order of the index.
func TestMatchesMemstore(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)}
		opts := memstore.Options{Now: clk.Now, Retention: 30 * time.Second}
		want := memstore.New(opts)
		got := rediskv.New(srv.client, rediskv.Options{Prefix: srv.prefix, Now: clk.Now, Retention: opts.Retention})
		rng := rand.New(rand.NewPCG(1, 2))
		ctx := context.Background()
		for i := range 1500 {
			clk.t = clk.t.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			call, run := randomCall(rng, clk.t)
			g, w := run(ctx, got), run(ctx, want)
			if g != w {
				t.Fatalf("call %d %s:\n got: %s\nwant: %s", i, call, g, w)
			}
		}
	})
}

// randomCall returns a description of a random store call and a function
// running it and rendering its result as text.
func randomCall(rng *rand.Rand, now time.Time) (string, func(context.Context, flagcache.Store) string) {
	ids := []flagcache.ID{"a", "b", "c", "d", "e:1", "f.2"}
	id := ids[rng.IntN(len(ids))]
	expected := []int64{0, 0, 1, 2, 3, 4, 5}[rng.IntN(7)]
	switch n := rng.IntN(12); n {
	case 0, 1:
		def := randomDefinition(rng, id)
		return fmt.Sprintf("Create(%s)", mustJSON(def)), func(ctx context.Context, s flagcache.Store) string {
			return render(s.Create(ctx, def.Clone()))
		}
	case 2, 3:
		def := randomDefinition(rng, id)
		return fmt.Sprintf("Update(%s, %d)", mustJSON(def), expected), func(ctx context.Context, s flagcache.Store) string {
			return render(s.Update(ctx, def.Clone(), expected))
		}
	case 4:
		return fmt.Sprintf("Delete(%s, %d)", id, expected), func(ctx context.Context, s flagcache.Store) string {
			return render(s.Delete(ctx, id, expected))
		}
	case 5:
		return fmt.Sprintf("Get(%s)", id), func(ctx context.Context, s flagcache.Store) string {
			return render(s.Get(ctx, id))
		}
	case 6:
		batch := []flagcache.ID{id, ids[rng.IntN(len(ids))], id}
		return fmt.Sprintf("GetMany(%v)", batch), func(ctx context.Context, s flagcache.Store) string {
			return render(s.GetMany(ctx, batch))
		}
	case 7:
		return fmt.Sprintf("Exists(%s)", id), func(ctx context.Context, s flagcache.Store) string {
			return render(s.Exists(ctx, id))
		}
	case 8, 9:
		q := randomQuery(rng)
		return fmt.Sprintf("List/Count(%s)", mustJSON(q)), func(ctx context.Context, s flagcache.Store) string {
			list, err := s.List(ctx, q)
			n, err2 := s.Count(ctx, q)
			return render(list, err) + " count " + render(n, err2)
		}
	case 10:
		since := now.Add(-time.Duration(rng.IntN(20000)) * time.Millisecond)
		return fmt.Sprintf("ModifiedSince(%s)", since), func(ctx context.Context, s flagcache.Store) string {
			return render(s.ModifiedSince(ctx, since))
		}
	default:
		after, limit := int64(rng.IntN(40)), rng.IntN(4)
		if rng.IntN(3) == 0 {
			after = 0
		}
		return fmt.Sprintf("Changes(%d, %d)", after, limit), func(ctx context.Context, s flagcache.Store) string {
			return render(s.Changes(ctx, after, limit))
		}
	}
}

func randomDefinition(rng *rand.Rand, id flagcache.ID) *flagcache.Definition {
	pick := func(pool ...string) string { return pool[rng.IntN(len(pool))] }
	def, err := flagcache.NewBoolean(id, pick("a", "a\x01", "a\x01b", "a\x02", "ab", "b", "B", "ä"), rng.IntN(2) == 0)
	if err != nil {
		panic(err)
	}
	def.Status = flagcache.Status(pick("", "inactive", "active", "deprecated", "archived"))
	def.Metadata.Owner = pick("", "", "team-a", "team-b")
	for range rng.IntN(3) {
		def.Metadata.Tags = append(def.Metadata.Tags, pick("x", "y", "x\x01", "z"))
	}
	for range rng.IntN(3) {
		if def.Environments == nil {
			def.Environments = map[string]flagcache.Environment{}
		}
		def.Environments[pick("production", "staging", "dev")] = flagcache.Environment{Enabled: rng.IntN(2) == 0}
	}
	return def
}

func randomQuery(rng *rand.Rand) flagcache.Query {
	pick := func(pool ...string) string { return pool[rng.IntN(len(pool))] }
	q := flagcache.Query{
		Status:          flagcache.Status(pick("", "", "", "active", "archived", "inactive")),
		Environment:     pick("", "", "production", "dev"),
		Owner:           pick("", "", "", "team-a"),
		IncludeArchived: rng.IntN(2) == 0,
		Offset:          []int{0, 0, 0, 1, 3}[rng.IntN(5)],
		Limit:           []int{0, 0, 1, 2, 5}[rng.IntN(5)],
	}
	for range rng.IntN(3) {
		q.Tags = append(q.Tags, pick("x", "y", "x\x01"))
	}
	return q
}

// render turns a result into comparable text: the JSON of the value, or
// the sentinel the error matches (and a version conflict's fields).
func render[T any](v T, err error) string {
	if err != nil {
		var conflict *flagcache.VersionConflictError
		if errors.As(err, &conflict) {
			return fmt.Sprintf("conflict %+v", *conflict)
		}
		for _, s := range []error{flagcache.ErrNotFound, flagcache.ErrAlreadyExists, flagcache.ErrInvalidArgument, flagcache.ErrResyncNeeded} {
			if errors.Is(err, s) {
				return "error " + s.Error()
			}
		}
		return "unexpected error " + err.Error()
	}
	if js := mustJSON(v); js != "null" {
		return js
	}
	return "[]" // nil and empty slices are both fine
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
