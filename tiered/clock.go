package tiered

import (
	"sync/atomic"
	"time"
)

// clockResolution is how often the coarse clock ticks. Each tick wakes the
// process: at 5 ms an idle daemon spent 1.5–3 % of a core on 200 wake-ups
// a second; at 250 ms it is 4, and TTLs of seconds (60 s, 5 s negative)
// are still kept to within a quarter of a second.
const clockResolution = 250 * time.Millisecond

// coarseClock is a wall clock read with one atomic load. time.Now costs
// 100–160 ns on the virtual machines measured here (docs/benchmarks.md),
// more than the rest of an LRU hit; TTLs of seconds need no better than
// the resolution.
type coarseClock struct {
	nanos atomic.Int64
	skew  atomic.Int64 // added by tests to move time forward
	stop  chan struct{}
	done  chan struct{}
}

func newCoarseClock(resolution time.Duration) *coarseClock {
	c := &coarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.nanos.Store(time.Now().UnixNano())
	go func() {
		defer close(c.done)
		t := time.NewTicker(resolution)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				c.nanos.Store(now.UnixNano())
			}
		}
	}()
	return c
}

func (c *coarseClock) now() int64 { return c.nanos.Load() + c.skew.Load() }

func (c *coarseClock) close() {
	close(c.stop)
	<-c.done
}
