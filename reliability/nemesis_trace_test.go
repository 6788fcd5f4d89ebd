package reliability_test

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// nemTrace samples, every nemTraceEvery, what the source, sidecar C (behind
// the HTTP API) and the local-cache client say about their revisions, and
// keeps the samples that differ from the one before: when a read through
// an endpoint is stale after the window, the timeline around it shows
// which link of the chain (source → C's feed → the watch stream → the
// local cache) was behind.
type nemTrace struct {
	r    *nemRig
	h    *nemHistory
	stop chan struct{}
	done sync.WaitGroup

	mu      sync.Mutex
	samples []nemSample
}

type nemSample struct {
	at   time.Duration
	line string
}

const nemTraceEvery = 20 * time.Millisecond

func startNemTrace(r *nemRig, h *nemHistory) *nemTrace {
	tr := &nemTrace{r: r, h: h, stop: make(chan struct{})}
	tr.done.Add(1)
	go func() {
		defer tr.done.Done()
		tick := time.NewTicker(nemTraceEvery)
		defer tick.Stop()
		last := ""
		for {
			select {
			case <-tr.stop:
				return
			case <-tick.C:
			}
			line := tr.sample()
			if line != last {
				tr.mu.Lock()
				tr.samples = append(tr.samples, nemSample{tr.h.now(), line})
				tr.mu.Unlock()
				last = line
			}
		}
	}()
	return tr
}

func (tr *nemTrace) sample() string {
	ctx, cancel := context.WithTimeout(context.Background(), nemTraceEvery)
	defer cancel()
	src := "?"
	if feed, err := tr.r.truth.Changes(ctx, 0, 1); err == nil {
		src = fmt.Sprint(feed.Revision)
	}
	tr.r.mu.Lock()
	sc := tr.r.sidecars["C"] // C is never killed
	tr.r.mu.Unlock()
	c := sc.store.Stats()
	l := tr.r.local.Stats()
	werr := ""
	if l.WatchError != nil {
		werr = l.WatchError.Error()
		if len(werr) > 80 {
			werr = werr[:80]
		}
	}
	return fmt.Sprintf("source=%s C{applied=%d current=%t heard=%d subscribed=%t breaker=%t} local{connected=%t rev=%d events=%d reconnects=%d err=%q}",
		src, c.AppliedRevision, c.Current, c.SourceRevision, c.Subscribed, c.BreakerOpen,
		l.Connected, l.Revision, l.Events, l.Reconnects, werr)
}

func (tr *nemTrace) close() {
	close(tr.stop)
	tr.done.Wait()
}

// around returns the samples from before to after.
func (tr *nemTrace) around(from, to time.Duration) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for i, s := range tr.samples {
		if s.at < from && (i+1 == len(tr.samples) || tr.samples[i+1].at < from) {
			continue // keep the last sample before from: the state at from
		}
		if s.at > to {
			break
		}
		out = append(out, fmt.Sprintf("%v %s", s.at.Round(time.Millisecond), s.line))
	}
	return out
}
