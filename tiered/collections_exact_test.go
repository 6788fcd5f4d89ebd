package tiered_test

import (
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
)

// A result read while writes kept landing is served with its stamp as a
// lower bound: it may hold writes past it, so it is not Exact and the HTTP
// API gives it no entity tag (one tag would name two contents). A quiet
// read, and what is then served from memory, is Exact.
func TestCollectionExactOnlyWhenProvable(t *testing.T) {
	src := &interleavingSource{Store: memstore.New(memstore.Options{})}
	s := newNode(t, src, nodeConfig{})
	mustCreateN(t, s, 3, "x")
	eventually(t, "the sidecar at revision 3", func() bool { rev, ok, _ := s.CollectionRevision(); return ok && rev == 3 })
	if c := mustReadList(t, s.Store, flagcache.Query{}); !c.Exact || c.Revision != 3 {
		t.Fatalf("quiet read: exact %v at revision %d, want exact at 3", c.Exact, c.Revision)
	}
	if c := mustReadList(t, s.Store, flagcache.Query{}); !c.Exact || c.Revision != 3 {
		t.Fatalf("from memory: exact %v at revision %d, want exact at 3", c.Exact, c.Revision)
	}

	src.storm.Store(true)
	c, err := s.ReadList(ctx(t), flagcache.Query{Tags: []string{"x"}})
	src.storm.Store(false)
	if err == nil && c.Exact {
		t.Fatalf("a read every attempt of which a write followed is exact at revision %d", c.Revision)
	}
}
