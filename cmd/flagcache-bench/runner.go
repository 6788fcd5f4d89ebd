package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
)

// op is one request of a workload on flag i: a read, or in the mix a
// write. It reports which it was and, for a read, the tier that served it.
type op func(ctx context.Context, i int) (write bool, tier Tier, err error)

// workload is a closed loop: conns workers, each drawing ids from its own
// Zipf picker and sending one request after the other for dur.
type workload struct {
	flags int
	zipf  float64
	conns int
	seed  uint64 // workers of one run get seed, seed+1, …
}

// tally is what one run (or several, merged) of a workload measured.
type tally struct {
	reads, writes       *Histogram
	tiers               TierCounts
	errors, writeErrors map[string]int64  // by kind
	examples            map[string]string // one message per error kind
	elapsed             time.Duration
}

func newTally() *tally {
	return &tally{reads: NewHistogram(), writes: NewHistogram(),
		errors: map[string]int64{}, writeErrors: map[string]int64{}, examples: map[string]string{}}
}

// fail counts a failed read.
func (t *tally) fail(err error) { t.count(t.errors, err) }

// failWrite counts a failed write.
func (t *tally) failWrite(err error) { t.count(t.writeErrors, err) }

func (t *tally) count(errs map[string]int64, err error) {
	kind := errorKind(err)
	errs[kind]++
	if _, ok := t.examples[kind]; !ok {
		t.examples[kind] = err.Error()
	}
}

func (t *tally) merge(o *tally) {
	t.reads.Merge(o.reads)
	t.writes.Merge(o.writes)
	t.tiers.Merge(o.tiers)
	for k, n := range o.errors {
		t.errors[k] += n
	}
	for k, n := range o.writeErrors {
		t.writeErrors[k] += n
	}
	for k, e := range o.examples {
		if _, ok := t.examples[k]; !ok {
			t.examples[k] = e
		}
	}
	t.elapsed += o.elapsed
}

// run runs the workload for dur with one op per worker from newOp and
// returns what it measured. A request still in flight at the deadline is
// waited for and counted.
func (w workload) run(ctx context.Context, dur time.Duration, newOp func(worker int) op) *tally {
	tallies := make([]*tally, w.conns)
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for k := range w.conns {
		wg.Go(func() {
			t := newTally()
			tallies[k] = t
			pick := NewPicker(w.flags, w.zipf, w.seed+uint64(k))
			do := newOp(k)
			for {
				i := pick.Next()
				begin := time.Now()
				write, tier, err := do(ctx, i)
				end := time.Now()
				switch {
				case err != nil && ctx.Err() != nil:
					return
				case err != nil && write:
					t.failWrite(err)
				case err != nil:
					t.fail(err)
				case write:
					t.writes.Record(end.Sub(begin))
				default:
					t.reads.Record(end.Sub(begin))
					t.tiers.Add(tier)
				}
				if end.After(deadline) {
					return
				}
			}
		})
	}
	wg.Wait()
	total := newTally()
	for _, t := range tallies {
		total.merge(t)
	}
	total.elapsed = time.Since(start)
	return total
}

// errorKind names the kind of a failed request, for the error counts.
func errorKind(err error) string {
	var status statusError
	var apiErr *client.Error
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		if apiErr.Code != "" {
			return apiErr.Code
		}
		return fmt.Sprintf("http_%d", apiErr.Status)
	case errors.Is(err, flagcache.ErrVersionConflict):
		return "version_conflict"
	case errors.As(err, &status):
		return fmt.Sprintf("http_%d", status.status)
	case errors.Is(err, redis.Nil), errors.Is(err, pgx.ErrNoRows), errors.Is(err, flagcache.ErrNotFound):
		return "not_found"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection_reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_local_port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too_many_open_files"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, flagcache.ErrUnavailable):
		return "unavailable"
	}
	return "other"
}
