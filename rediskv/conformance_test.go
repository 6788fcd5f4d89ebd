package rediskv_test

import (
	"context"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/storetest"
)

// TestConformance runs the storetest suite on miniredis and on the real
// Redis; every subtest gets a fresh key prefix, so a fresh empty store.
func TestConformance(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			prefix := testenv.UniqueName(srv.prefix + "-")
			if srv.mini == nil {
				t.Cleanup(func() { deleteKeys(t, srv.client, prefix) })
			}
			s := rediskv.New(srv.client, rediskv.Options{Prefix: prefix})
			storetest.SetRaw(t, storetest.Raw{Write: func(ctx context.Context, id flagcache.ID, raw []byte) error {
				return rediskv.WriteRaw(s, ctx, id, raw)
			}})
			return s
		})
	})
}
