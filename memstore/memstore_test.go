package memstore_test

import (
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		s := memstore.New(memstore.Options{})
		storetest.SetRaw(t, storetest.Raw{Write: s.WriteRaw})
		return s
	})
}
