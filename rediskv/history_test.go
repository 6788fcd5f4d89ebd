package rediskv_test

import (
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/storetest"
)

func TestHistoryRetention(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *server) {
		storetest.RunRetention(t, func(t *testing.T, o storetest.RetentionOptions) flagcache.Store {
			prefix := testenv.UniqueName(srv.prefix + "-")
			if srv.mini == nil {
				t.Cleanup(func() { deleteKeys(t, srv.client, prefix) })
			}
			var now func() time.Time
			if o.Clock != nil {
				now = o.Clock.Now
			}
			return rediskv.New(srv.client, rediskv.Options{Prefix: prefix, History: o.Retention, Now: now})
		})
	})
}
