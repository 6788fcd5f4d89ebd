package tiered

import (
	"time"

	"github.com/flagcache/flagcache"
)

// SetBeforeInstall installs the test seam that pauses a shared load after
// its source read.
func SetBeforeInstall(s *Store, f func(flagcache.ID)) { s.beforeInstall = f }

// AdvanceClock moves the LRU's clock forward by d.
func AdvanceClock(s *Store, d time.Duration) { s.clock.skew.Add(int64(d)) }
