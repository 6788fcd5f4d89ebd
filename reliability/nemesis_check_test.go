package reliability_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/linearize"
)

// nemHistory is everything the nemesis's checker needs: the CAS history
// (porcupine), what the source is known to have held when (acknowledged
// writes and source reads), every cached read, and when faults were on.
type nemHistory struct {
	base time.Time

	mu       sync.Mutex
	ops      []porcupine.Operation
	known    map[flagcache.ID][]sourceState
	reads    []nemRead
	periods  []faultPeriod
	backward []string
	// firstBackward is when the first read that went back started.
	firstBackward time.Duration
}

// sourceState: the source held id at version (live or a tombstone) at
// least from at on.
type sourceState struct {
	at      time.Duration
	version int64
	live    bool
	by      string // who learnt it: a CAS's endpoint, "source read", "sql"
}

// nemRead is one read through an endpoint.
type nemRead struct {
	endpoint string
	id       flagcache.ID
	start    time.Duration
	end      time.Duration
	version  int64 // 0: not found
	err      error
	sweep    bool // made by the post-heal sweep, not the load
}

// faultPeriod is one episode of the schedule: its faults were injected at
// from and all healed at to.
type faultPeriod struct {
	kinds    []string
	from, to time.Duration
}

func newNemHistory() *nemHistory {
	return &nemHistory{base: time.Now(), known: map[flagcache.ID][]sourceState{}}
}

func (h *nemHistory) now() time.Duration { return time.Since(h.base) }

// source records that the source held id at version from at on.
func (h *nemHistory) source(id flagcache.ID, at time.Duration, version int64, live bool, by string) {
	h.mu.Lock()
	h.known[id] = append(h.known[id], sourceState{at, version, live, by})
	h.mu.Unlock()
}

func (h *nemHistory) op(client int, call, ret time.Duration, in linearize.Input, out linearize.Output) {
	r := int64(ret)
	if out.Outcome == linearize.Unknown {
		r = linearize.NeverReturned
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: int64(call), Output: out, Return: r})
	h.mu.Unlock()
}

func (h *nemHistory) read(r nemRead) {
	h.mu.Lock()
	h.reads = append(h.reads, r)
	h.mu.Unlock()
}

func (h *nemHistory) period(p faultPeriod) {
	h.mu.Lock()
	h.periods = append(h.periods, p)
	h.mu.Unlock()
}

func (h *nemHistory) backwards(at time.Duration, msg string) {
	h.mu.Lock()
	if len(h.backward) == 0 {
		h.firstBackward = at
	}
	h.backward = append(h.backward, msg)
	h.mu.Unlock()
}

// required returns the newest state of id known to have been at the
// source by time at.
func (h *nemHistory) required(id flagcache.ID, at time.Duration) (sourceState, bool) {
	var best sourceState
	found := false
	for _, s := range h.known[id] {
		if s.at <= at && (!found || s.version > best.version) {
			best, found = s, true
		}
	}
	return best, found
}

// staleness of one read: "" if fresh, else why not.
func (h *nemHistory) stale(r nemRead, lag time.Duration) string {
	req, ok := h.required(r.id, r.start-lag)
	if !ok {
		return ""
	}
	switch {
	case r.version == 0 && req.live:
		return fmt.Sprintf("not found, but v%d was at the source by %v", req.version, req.at.Round(time.Millisecond))
	case r.version != 0 && r.version < req.version:
		what := "live"
		if !req.live {
			what = "deleted"
		}
		return fmt.Sprintf("v%d, but v%d (%s, by %s) was at the source by %v%s", r.version, req.version, what, req.by, req.at.Round(time.Millisecond), h.earlier(r))
	}
	return ""
}

// earlier describes the reads of r's id through r's endpoint in the 2 s
// before r, to tell a lost invalidation from a copy that came back.
func (h *nemHistory) earlier(r nemRead) string {
	var b []string
	for _, o := range h.reads {
		if o.id == r.id && o.endpoint == r.endpoint && o.start < r.start && o.start > r.start-2*time.Second && o.err == nil {
			b = append(b, fmt.Sprintf("v%d@%v", o.version, o.start.Round(time.Millisecond)))
		}
	}
	if len(b) == 0 {
		return ""
	}
	if len(b) > 8 {
		b = b[len(b)-8:]
	}
	return "; earlier reads there: " + strings.Join(b, " ")
}

// freshness is the verdict on the reads.
type freshness struct {
	checked      int           // reads in a checked window
	staleAfter   []string      // stale reads after the window: must be none
	firstStale   time.Duration // when the first of them started
	staleWithin  int           // stale reads during a fault or its window (allowed)
	lastStale    time.Duration // latest stale read after a heal, measured from the heal
	errorsAfter  int           // failed reads in a checked window
	sweepChecked int
}

// checkFreshness: a read through any endpoint that starts at least w
// after the last heal, while no fault is on, must return a version at
// least as new as every version known at the source lag before it
// started (lag: how long a write may take to reach every sidecar without
// faults, the 1 s foreign-write promise).
func (h *nemHistory) checkFreshness(w, lag, end time.Duration) freshness {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.known {
		slices.SortFunc(h.known[id], func(a, b sourceState) int { return int(a.at - b.at) })
	}
	var f freshness
	for _, r := range h.reads {
		healed, next := h.window(r.start, end)
		checked := r.start >= healed+w && r.end <= next
		if r.err != nil {
			if checked {
				f.errorsAfter++
			}
			continue
		}
		why := h.stale(r, lag)
		if checked {
			f.checked++
			if r.sweep {
				f.sweepChecked++
			}
		}
		if why == "" {
			continue
		}
		if r.start-healed > f.lastStale && r.start >= healed {
			f.lastStale = r.start - healed
		}
		if checked {
			if len(f.staleAfter) == 0 || r.start < f.firstStale {
				f.firstStale = r.start
			}
			f.staleAfter = append(f.staleAfter, fmt.Sprintf("%s via %s at %v (%v after the heal): %s",
				r.id, r.endpoint, r.start.Round(time.Millisecond), (r.start-healed).Round(time.Millisecond), why))
		} else {
			f.staleWithin++
		}
	}
	return f
}

// window returns, for a moment t, when the faults before it last healed
// (-1 if a fault is on at t) and when the next episode begins.
func (h *nemHistory) window(t, end time.Duration) (healed, next time.Duration) {
	healed, next = 0, end
	for _, p := range h.periods {
		switch {
		case p.from <= t && t < p.to:
			return 1 << 62, p.to // in a fault: never checked
		case p.to <= t:
			healed = max(healed, p.to)
		case p.from > t:
			next = min(next, p.from)
		}
	}
	return healed, next
}
