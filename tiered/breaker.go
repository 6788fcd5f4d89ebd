package tiered

import (
	"errors"
	"sync"
	"time"
)

var errBreakerOpen = errors.New("tiered: redis breaker open")

// breaker keeps requests off a Redis that is failing: after `failures`
// consecutive errors it opens, and every `cooldown` it lets one probe
// through; a success closes it.
type breaker struct {
	failures int
	cooldown time.Duration

	mu        sync.Mutex
	failed    int
	open      bool
	nextProbe time.Time
}

func newBreaker(failures int, cooldown time.Duration) *breaker {
	return &breaker{failures: failures, cooldown: cooldown}
}

// allow reports whether a Redis call may be made now.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true
	}
	if now := time.Now(); now.After(b.nextProbe) {
		b.nextProbe = now.Add(b.cooldown)
		return true
	}
	return false
}

// record counts a call's outcome and reports whether this success closed
// an open breaker (Redis is back).
func (b *breaker) record(ok bool) (recovered bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		recovered = b.open
		b.failed, b.open = 0, false
		return recovered
	}
	b.failed++
	if b.failed >= b.failures && !b.open {
		b.open = true
		b.nextProbe = time.Now().Add(b.cooldown)
	}
	return false
}

// isOpen reports whether Redis is being skipped.
func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}
