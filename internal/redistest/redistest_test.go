package redistest_test

import (
	"context"
	"testing"

	"github.com/flagcache/flagcache/internal/redistest"
)

func TestClusterAndSentinelStart(t *testing.T) {
	c := redistest.StartCluster(t)
	cc := c.Client()
	if err := cc.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	killed := c.KillPrimaryOf("k")
	t.Logf("killed %s", killed)
	s := redistest.StartSentinel(t)
	sc := s.Client()
	if err := sc.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.KillPrimary()
}
