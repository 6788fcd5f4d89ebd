package pgsource_test

import (
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/storetest"
)

// TestConformance runs the Store contract against a real server, each
// subtest in a fresh schema of its own.
func TestConformance(t *testing.T) {
	mustAdmin(t) // one skip (or failure) for the lot when the server is missing
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		s, schema := mustStore(t, pgsource.Options{})
		storetest.SetRaw(t, storetest.Raw{Write: pgtest.RawWriter(t, schema), ValueEqual: true})
		return s
	})
}
