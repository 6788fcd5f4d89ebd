package boltsource_test

import (
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
	"github.com/flagcache/flagcache/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		return mustOpen(t, tempPath(t), boltsource.Options{})
	})
}
