package reliability_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache/internal/testenv"
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

	// activity sums up what the sidecars' Postgres sessions are doing
	// (pg_stat_activity), read every nemActivityEvery on a connection of
	// its own: a pool whose every connection waits on a lock or on a dead
	// link shows there.
	activity     string
	activityConn *pgx.Conn
}

type nemSample struct {
	at   time.Duration
	line string
}

const (
	nemTraceEvery    = 20 * time.Millisecond
	nemActivityEvery = 500 * time.Millisecond
)

// activitySQL sums up the sessions of one application_name by state and
// wait event.
const activitySQL = `SELECT coalesce(string_agg(format('%s/%s:%s', n, state, wait), ' ' ORDER BY n DESC), '')
FROM (SELECT count(*) AS n, coalesce(state, '-') AS state, coalesce(wait_event_type || '.' || wait_event, '-') AS wait
      FROM pg_stat_activity WHERE application_name = $1 GROUP BY 2, 3) s`

func startNemTrace(r *nemRig, h *nemHistory) *nemTrace {
	tr := &nemTrace{r: r, h: h, stop: make(chan struct{}), activityConn: mustPgConn(r.t, testenv.PostgresDSN(), "")}
	tr.done.Add(1)
	go func() {
		defer tr.done.Done()
		tick := time.NewTicker(nemTraceEvery)
		defer tick.Stop()
		last := ""
		var lastActivity time.Time
		for {
			select {
			case <-tr.stop:
				return
			case <-tick.C:
			}
			if time.Since(lastActivity) >= nemActivityEvery {
				tr.activity, lastActivity = tr.readActivity(), time.Now()
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
	ps := sc.pool.Stat()
	return fmt.Sprintf("source=%s C{applied=%d current=%t heard=%d subscribed=%t breaker=%t cut=%d pool=%d/%d/%d} local{connected=%t rev=%d events=%d reconnects=%d err=%q} pg{%s}",
		src, c.AppliedRevision, c.Current, c.SourceRevision, c.Subscribed, c.BreakerOpen,
		c.ReadsCut, ps.AcquiredConns(), ps.IdleConns(), ps.TotalConns(),
		l.Connected, l.Revision, l.Events, l.Reconnects, werr, tr.activity)
}

// readActivity sums up the sidecars' Postgres sessions (activitySQL).
func (tr *nemTrace) readActivity() string {
	ctx, cancel := context.WithTimeout(context.Background(), nemActivityEvery)
	defer cancel()
	var out string
	if err := tr.activityConn.QueryRow(ctx, activitySQL, tr.r.app).Scan(&out); err != nil {
		return "?"
	}
	return out
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
