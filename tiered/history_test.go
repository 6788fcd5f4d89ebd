package tiered_test

import (
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/storetest"
)

func TestHistoryRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T, o storetest.RetentionOptions) flagcache.Store {
		var now func() time.Time
		if o.Clock != nil {
			now = o.Clock.Now
		}
		return newNode(t, memstore.New(memstore.Options{History: o.Retention, Now: now}), nodeConfig{})
	})
}
