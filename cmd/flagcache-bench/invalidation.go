package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flagcache/flagcache"
)

// invalidationTimeout is how long B may take to serve a write of A's
// before the write counts as a timeout.
const invalidationTimeout = 5 * time.Second

// invalidation writes on daemon a, one write at a time, each an Update
// with If-Match, and polls daemon urlB (which has the old version cached)
// until it serves the new version: the time from A's acknowledgement to
// B's first read of the new version is the invalidation latency.
func (b *bench) invalidation(ctx context.Context, a *httpTarget, urlB, pair string) (*Invalidation, error) {
	o := &b.opts
	bh, err := newHTTPTarget(urlB, o.Token, 1)
	if err != nil {
		return nil, err
	}
	defer bh.close()
	ac, err := a.newClient(o.Token)
	if err != nil {
		return nil, err
	}
	defer ac.Close()

	n := min(100, b.ds.Len(), o.Writes)
	versions := make([]int64, n)
	for i := range n {
		fa, err := a.fetch(ctx, a.flagURL(b.ds.IDs[i]), "")
		if err != nil {
			return nil, fmt.Errorf("reading %s on A: %w", b.ds.IDs[i], err)
		}
		versions[i] = fa.version
		// B caches the version it has now: what the write must replace.
		if _, err := bh.fetch(ctx, bh.flagURL(b.ds.IDs[i]), ""); err != nil {
			return nil, fmt.Errorf("reading %s on B (does it share A's source?): %w", b.ds.IDs[i], err)
		}
	}

	bar := newProgress(o.Progress, "invalidation: writes", o.Writes)
	lat, wlat, t := NewHistogram(), NewHistogram(), newTally()
	for w := range o.Writes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		i := w % n
		begin := time.Now()
		st, err := ac.Update(ctx, b.ds.writeDef(i), versions[i])
		if err != nil {
			t.fail(err)
			if v, ok := conflictActual(err); ok {
				versions[i] = v
			}
			continue
		}
		ack := time.Now()
		wlat.Record(ack.Sub(begin))
		versions[i] = st.Version
		if err := waitServed(ctx, bh, bh.flagURL(b.ds.IDs[i]), st.Version, ack.Add(invalidationTimeout)); err != nil {
			t.fail(err)
			continue
		}
		lat.Record(time.Since(ack))
		bar.add(1)
	}
	bar.finish()
	inv := &Invalidation{Pair: pair, Writes: o.Writes, Flags: n, Latency: latency(lat), WriteLatency: latency(wlat)}
	if len(t.errors) > 0 {
		inv.Errors, inv.ErrorExamples = t.errors, t.examples
	}
	return inv, nil
}

// waitServed polls url until it serves version want (or newer).
func waitServed(ctx context.Context, h *httpTarget, url string, want int64, deadline time.Time) error {
	for {
		f, err := h.fetch(ctx, url, flagcache.ETag(want))
		if err == nil && f.version >= want {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still version %d", f.version)
			}
			return fmt.Errorf("%w: B did not serve version %d within %v: %w", context.DeadlineExceeded, want, invalidationTimeout, err)
		}
	}
}

func conflictActual(err error) (int64, bool) {
	var conflict *flagcache.VersionConflictError
	if errors.As(err, &conflict) {
		return conflict.Actual, true
	}
	return 0, false
}
