// Package storetest is the conformance suite of the flagcache.Store
// contract. Every Store (memstore, boltsource, pgsource, rediskv, tiered and
// the HTTP client) runs it from a short TestConformance:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) flagcache.Store {
//			return memstore.New(memstore.Options{})
//		})
//	}
//
// The factory returns a fresh, empty store for each subtest and registers
// its cleanup with t.Cleanup; it may also register the store's raw-write
// hook with SetRaw, which the cases of fidelity and of rows flagcache does
// not model need (they skip without it), and a second node over the same
// storage with SetPeer, which the cases of writes on another node need. A behaviour of the contract is
// specified once, here.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

// NewStore returns a fresh, empty store for one subtest.
type NewStore func(t *testing.T) flagcache.Store

type testCase struct {
	name string
	fn   func(t *testing.T, s flagcache.Store)
}

// Run runs every conformance case as a subtest, each on its own store.
func Run(t *testing.T, newStore NewStore) {
	var cases []testCase
	cases = append(cases, crudCases...)
	cases = append(cases, versionCases...)
	cases = append(cases, validationCases...)
	cases = append(cases, queryCases...)
	cases = append(cases, readCases...)
	cases = append(cases, changeCases...)
	cases = append(cases, concurrencyCases...)
	cases = append(cases, historyCases...)
	cases = append(cases, collectionCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, newStore(t))
		})
	}
	runPeerCases(t, newStore)
	for _, c := range rawCases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			raw, ok := rawFor(t)
			if !ok {
				t.Skip("the store has no raw-write hook (storetest.SetRaw)")
			}
			c.fn(t, s, raw)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// flag builds a valid definition; opts adjust it.
func flag(id, name string, opts ...func(*flagcache.Definition)) *flagcache.Definition {
	d, err := flagcache.NewBoolean(flagcache.ID(id), name, false)
	if err != nil {
		panic(err)
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

func withStatus(s flagcache.Status) func(*flagcache.Definition) {
	return func(d *flagcache.Definition) { d.Status = s }
}

func withTags(tags ...string) func(*flagcache.Definition) {
	return func(d *flagcache.Definition) { d.Metadata.Tags = tags }
}

func withOwner(o string) func(*flagcache.Definition) {
	return func(d *flagcache.Definition) { d.Metadata.Owner = o }
}

func withEnvs(envs ...string) func(*flagcache.Definition) {
	return func(d *flagcache.Definition) {
		d.Environments = map[string]flagcache.Environment{}
		for _, e := range envs {
			d.Environments[e] = flagcache.Environment{Enabled: true}
		}
	}
}

func mustCreate(t *testing.T, s flagcache.Store, d *flagcache.Definition) *flagcache.Stored {
	t.Helper()
	got, err := s.Create(ctxFor(t), d)
	if err != nil {
		t.Fatalf("Create(%s): %v", d.ID, err)
	}
	return got
}

func mustUpdate(t *testing.T, s flagcache.Store, d *flagcache.Definition, expected int64) *flagcache.Stored {
	t.Helper()
	got, err := s.Update(ctxFor(t), d, expected)
	if err != nil {
		t.Fatalf("Update(%s, %d): %v", d.ID, expected, err)
	}
	return got
}

func mustDelete(t *testing.T, s flagcache.Store, id string, expected int64) flagcache.Change {
	t.Helper()
	got, err := s.Delete(ctxFor(t), flagcache.ID(id), expected)
	if err != nil {
		t.Fatalf("Delete(%s, %d): %v", id, expected, err)
	}
	return got
}

func mustGet(t *testing.T, s flagcache.Store, id string) *flagcache.Stored {
	t.Helper()
	got, err := s.Get(ctxFor(t), flagcache.ID(id))
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return got
}

func mustList(t *testing.T, s flagcache.Store, q flagcache.Query) []*flagcache.Stored {
	t.Helper()
	got, err := s.List(ctxFor(t), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return got
}

func wantNotFound(t *testing.T, s flagcache.Store, id string) {
	t.Helper()
	got, err := s.Get(ctxFor(t), flagcache.ID(id))
	if !errors.Is(err, flagcache.ErrNotFound) {
		t.Fatalf("Get(%s) = %v, %v; want ErrNotFound", id, got, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// ids returns the ids of flags in order.
func ids(flags []*flagcache.Stored) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = string(f.Definition.ID)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// jsonOf encodes v for comparisons that must hold byte for byte.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// sameDefinition compares two definitions ignoring nothing.
func sameDefinition(t *testing.T, got, want *flagcache.Definition) {
	t.Helper()
	if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
		t.Fatalf("definition differs:\n got %s\nwant %s", g, w)
	}
}

// checkStored checks the invariants of any Stored a store returns.
func checkStored(t *testing.T, s *flagcache.Stored, id string, version int64) {
	t.Helper()
	if s == nil || s.Definition == nil {
		t.Fatalf("%s: got nil stored flag", id)
	}
	if string(s.Definition.ID) != id {
		t.Errorf("id: got %q, want %q", s.Definition.ID, id)
	}
	if s.Version != version {
		t.Errorf("%s version: got %d, want %d", id, s.Version, version)
	}
	if want := fmt.Sprintf(`"v%d"`, version); s.ETag != want {
		t.Errorf("%s etag: got %s, want %s", id, s.ETag, want)
	}
	if s.Revision <= 0 {
		t.Errorf("%s revision: got %d, want > 0", id, s.Revision)
	}
}
