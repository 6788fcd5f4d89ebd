package boltsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
	"github.com/flagcache/flagcache/memstore"
)

// TestMatchesMemstore runs the same random sequence of calls against
// boltsource and memstore, the reference implementation, on one clock, and
// wants the same answers: results, versions, revisions, timestamps and
// errors. The bolt store is closed and reopened now and then.
func TestMatchesMemstore(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			clk := newClock()
			path := tempPath(t)
			opts := boltsource.Options{Now: clk.Now, Retention: 48 * time.Hour}
			bolt := mustOpen(t, path, opts)
			mem := memstore.New(memstore.Options{Now: clk.Now, Retention: opts.Retention})
			rnd := rand.New(rand.NewPCG(seed, 1))
			for step := range 300 {
				clk.Add(time.Duration(rnd.IntN(4*60)) * time.Minute)
				if rnd.IntN(40) == 0 {
					if err := bolt.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
					bolt = mustOpen(t, path, opts)
				}
				call := randomCall(rnd, clk.Now())
				got, want := call.run(bolt), call.run(mem)
				if got != want {
					t.Fatalf("step %d: %s\n got %s\nwant %s", step, call.name, got, want)
				}
			}
		})
	}
}

type call struct {
	name string
	run  func(flagcache.Store) string
}

// randomCall picks a store call over a few ids, names and attributes, so
// that conflicts, re-creates, ties in ordering and expiries all happen.
func randomCall(rnd *rand.Rand, now time.Time) call {
	ctx := context.Background()
	pick := func(xs ...string) string { return xs[rnd.IntN(len(xs))] }
	id := flagcache.ID(pick("a", "b", "c", "d", "e", "f"))
	version := int64(rnd.IntN(4)) // 0 = unconditional
	def := func() *flagcache.Definition {
		d, _ := flagcache.NewBoolean(id, pick("Alpha", "Beta", "beta", "Gamma", "Beta\x01", "Beta\x01x"), rnd.IntN(2) == 0)
		d.Status = flagcache.Status(pick("", "active", "deprecated", "archived"))
		d.Metadata.Owner = pick("", "team-a", "team-b")
		d.Metadata.Tags = []string{pick("x", "y", "z"), pick("x", "y", "z", "x\x01y")}[:rnd.IntN(3)]
		d.Environments = map[string]flagcache.Environment{pick("prod", "staging"): {Enabled: true}}
		if rnd.IntN(3) == 0 {
			d.Environments[pick("prod", "dev")] = flagcache.Environment{}
		}
		d.Metadata.CreatedAt = now.Add(-time.Hour) // ignored by stores
		return d
	}
	query := func() flagcache.Query {
		return flagcache.Query{
			Status:          flagcache.Status(pick("", "", "active", "archived")),
			Environment:     pick("", "", "prod"),
			Tags:            []string{pick("x", "y", "z"), pick("x", "y", "x\x01y")}[:rnd.IntN(3)],
			Owner:           pick("", "", "team-a"),
			IncludeArchived: rnd.IntN(2) == 0,
			Offset:          rnd.IntN(3),
			Limit:           rnd.IntN(4),
		}
	}
	switch rnd.IntN(12) {
	case 0, 1:
		d := def()
		return call{"Create " + string(id), func(s flagcache.Store) string { return result(s.Create(ctx, d)) }}
	case 2, 3:
		d := def()
		return call{fmt.Sprint("Update ", id, " ", version), func(s flagcache.Store) string { return result(s.Update(ctx, d, version)) }}
	case 4:
		return call{fmt.Sprint("Delete ", id, " ", version), func(s flagcache.Store) string { return result(s.Delete(ctx, id, version)) }}
	case 5:
		return call{"Get " + string(id), func(s flagcache.Store) string { return result(s.Get(ctx, id)) }}
	case 6:
		ids := []flagcache.ID{id, "b", id}
		return call{"GetMany", func(s flagcache.Store) string { return result(s.GetMany(ctx, ids)) }}
	case 7:
		return call{"Exists " + string(id), func(s flagcache.Store) string { return result(s.Exists(ctx, id)) }}
	case 8:
		q := query()
		return call{fmt.Sprintf("List %+v", q), func(s flagcache.Store) string {
			list, err := s.List(ctx, q)
			n, cerr := s.Count(ctx, q)
			return result(list, err) + result(n, cerr)
		}}
	case 9:
		since := now.Add(-time.Duration(rnd.IntN(72)) * time.Hour)
		return call{"ModifiedSince", func(s flagcache.Store) string { return result(s.ModifiedSince(ctx, since)) }}
	case 10:
		before := now.Add(-time.Duration(rnd.IntN(72)) * time.Hour)
		return call{"Compact", func(s flagcache.Store) string {
			return result(0, s.(flagcache.Compactor).Compact(ctx, before))
		}}
	default:
		// A cursor a few revisions back from the current one, now and then
		// one ahead of it.
		back, limit := int64(rnd.IntN(12)-1), rnd.IntN(3)
		return call{fmt.Sprint("Changes ", back, " back ", limit), func(s flagcache.Store) string {
			full, err := s.Changes(ctx, 0, 0)
			if err != nil {
				return result(full, err)
			}
			return result(s.Changes(ctx, max(0, full.Revision-back), limit))
		}}
	}
}

// result renders a call's answer for comparison.
func result(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "marshal: " + err.Error()
	}
	return string(b)
}
