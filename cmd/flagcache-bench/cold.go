package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache/client"
)

// spawnedScenarios runs cold, storm and (without --url-b) invalidation on
// daemons the bench starts: a daemon holding the data set is stopped, and
// a new one (with a second when invalidation runs) starts on the same
// source with its LRU and a fresh Redis cache empty.
func (b *bench) spawnedScenarios(ctx context.Context) error {
	o := &b.opts
	wantCold, wantStorm := o.wants(ScenarioCold), o.wants(ScenarioStorm)
	wantInv := o.wants(ScenarioInvalidation) && o.URLB == ""
	if !wantCold && !wantStorm && !wantInv {
		return nil
	}
	skipAll := func(why string) {
		for s, want := range map[string]bool{ScenarioCold: wantCold, ScenarioStorm: wantStorm, ScenarioInvalidation: wantInv} {
			if want {
				b.report.skip(s, why)
			}
		}
	}
	if b.fleet == nil {
		skipAll("needs --spawn: a daemon the bench starts cold (invalidation: or --url-b)")
		return nil
	}
	if ok, why := b.fleet.restartable(); !ok {
		skipAll(why)
		return nil
	}
	if b.spawned == nil {
		b.status("starting a daemon to load the data set into")
		d, err := b.fleet.start(ctx, 1)
		if err != nil {
			return err
		}
		b.spawned = d
	}
	if !b.spawnedLoaded {
		h, c, err := b.connect(b.spawned.URL, o.Conns)
		if err != nil {
			return err
		}
		bar := newProgress(o.Progress, "loading the flags", o.Flags)
		err = b.ds.load(ctx, c, o.Conns, bar)
		c.Close()
		h.close()
		if err != nil {
			return fmt.Errorf("loading the spawned daemon: %w", err)
		}
		b.spawnedLoaded = true
	}
	b.status("restarting it cold")
	if err := b.spawned.Stop(); err != nil {
		return err
	}
	a, err := b.fleet.start(ctx, 2)
	if err != nil {
		return err
	}
	daemons := []*Daemon{a}
	if wantInv {
		if ok, why := b.fleet.shareable(); ok {
			pair, err := b.fleet.start(ctx, 2)
			if err != nil {
				return err
			}
			daemons = append(daemons, pair)
		} else {
			b.report.skip(ScenarioInvalidation, why)
		}
	}
	if wantStorm {
		b.report.Storm, err = b.storm(ctx, daemons, b.ds.Len()-1)
		b.skipIf(ScenarioStorm, err)
	}
	if wantCold {
		b.report.Cold, err = b.cold(ctx, a.URL)
		b.skipIf(ScenarioCold, err)
	}
	if len(daemons) == 2 {
		h, err := newHTTPTarget(a.URL, o.Token, 2)
		if err != nil {
			return err
		}
		defer h.close()
		b.report.Invalidation, err = b.invalidation(ctx, h, daemons[1].URL, "two spawned daemons sharing the source and Redis")
		b.skipIf(ScenarioInvalidation, err)
	}
	return nil
}

// connect returns a reader and a client on a daemon.
func (b *bench) connect(url string, conns int) (*httpTarget, *client.Client, error) {
	h, err := newHTTPTarget(url, b.opts.Token, conns)
	if err != nil {
		return nil, nil, err
	}
	c, err := h.newClient(b.opts.Token)
	if err != nil {
		return nil, nil, err
	}
	return h, c, nil
}

// sweep reads ids 0..n-1 once each on conns workers and tallies it.
func sweep(ctx context.Context, n, conns int, bar *progress, read func(ctx context.Context, i int) (Tier, error)) *tally {
	tallies := make([]*tally, min(conns, n))
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for k := range tallies {
		t := newTally()
		tallies[k] = t
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				begin := time.Now()
				tier, err := read(ctx, i)
				if err != nil {
					t.fail(err)
					continue
				}
				t.reads.Record(time.Since(begin))
				t.tiers.Add(tier)
				bar.add(1)
			}
		})
	}
	wg.Wait()
	bar.finish()
	total := newTally()
	for _, t := range tallies {
		total.merge(t)
	}
	total.elapsed = time.Since(start)
	return total
}

// cold reads every flag once from a cold daemon, then once more.
func (b *bench) cold(ctx context.Context, url string) (*Cold, error) {
	o := &b.opts
	h, err := newHTTPTarget(url, o.Token, o.Conns)
	if err != nil {
		return nil, err
	}
	defer h.close()
	urls := h.flagURLs(b.ds)
	read := func(ctx context.Context, i int) (Tier, error) { return h.get(ctx, urls[i]) }
	first := sweep(ctx, b.ds.Len(), o.Conns, newProgress(o.Progress, "cold: first reads", b.ds.Len()), read)
	warm := sweep(ctx, b.ds.Len(), o.Conns, newProgress(o.Progress, "cold: second reads", b.ds.Len()), read)
	c := &Cold{
		Flags:       b.ds.Len(),
		WarmSeconds: first.elapsed.Seconds(),
		First:       latency(first.reads), FirstTiers: first.tiers.Shares(),
		Warm: latency(warm.reads), WarmTiers: warm.tiers.Shares(),
	}
	first.merge(warm)
	if len(first.errors) > 0 {
		c.Errors, c.ErrorExamples = first.errors, first.examples
	}
	if c.First == nil {
		return nil, fmt.Errorf("no read succeeded: %v", first.examples)
	}
	return c, nil
}

// storm sends o.Storm concurrent GETs of flag i to each daemon at once,
// on connections opened beforehand, and counts each daemon's source reads
// from its /metrics.
func (b *bench) storm(ctx context.Context, daemons []*Daemon, i int) (*Storm, error) {
	o := &b.opts
	b.status("storm: %d concurrent requests of %s on %d daemon(s)", o.Storm, b.ds.IDs[i], len(daemons))
	type side struct {
		h      *httpTarget
		before int64
		err    error
		lat    []time.Duration
		tiers  []Tier
		errs   []error
	}
	sides := make([]*side, len(daemons))
	for k, d := range daemons {
		h, err := newHTTPTarget(d.URL, o.Token, o.Storm)
		if err != nil {
			return nil, err
		}
		defer h.close()
		s := &side{h: h, lat: make([]time.Duration, o.Storm), tiers: make([]Tier, o.Storm), errs: make([]error, o.Storm)}
		s.before, s.err = sourceLoads(ctx, h)
		sides[k] = s
	}
	// Open the connections first, concurrently so that they are distinct.
	fire := func(do func(s *side, j int)) {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, s := range sides {
			for j := range o.Storm {
				wg.Go(func() {
					<-start
					do(s, j)
				})
			}
		}
		close(start)
		wg.Wait()
	}
	fire(func(s *side, j int) { s.h.fetch(ctx, s.h.base+"/healthz", "") })
	url := func(s *side) string { return s.h.flagURL(b.ds.IDs[i]) }
	fire(func(s *side, j int) {
		begin := time.Now()
		s.tiers[j], s.errs[j] = s.h.get(ctx, url(s))
		s.lat[j] = time.Since(begin)
	})

	st := &Storm{Requests: o.Storm, ID: string(b.ds.IDs[i])}
	for k, s := range sides {
		t := newTally()
		for j := range o.Storm {
			if s.errs[j] != nil {
				t.fail(s.errs[j])
				continue
			}
			t.reads.Record(s.lat[j])
			t.tiers.Add(s.tiers[j])
		}
		sd := StormDaemon{Name: fmt.Sprintf("daemon %c", 'A'+k), SourceReads: -1, Latency: latency(t.reads), Tiers: t.tiers.Shares()}
		if len(t.errors) > 0 {
			sd.Errors = t.errors
		}
		after, err := sourceLoads(ctx, s.h)
		if err = errors.Join(s.err, err); err != nil {
			sd.Note = err.Error()
		} else {
			sd.SourceReads = after - s.before
		}
		st.Daemons = append(st.Daemons, sd)
	}
	return st, nil
}

// sourceMetric counts the daemon's reads of its source of truth.
const sourceMetric = "flagcache_source_loads_total"

// sourceLoads reads sourceMetric from the daemon's /metrics.
func sourceLoads(ctx context.Context, h *httpTarget) (int64, error) {
	f, err := h.fetch(ctx, h.base+"/metrics", "")
	if err != nil {
		return -1, fmt.Errorf("/metrics: %w", err)
	}
	n, err := metricSum(f.body, sourceMetric)
	if err != nil {
		return -1, fmt.Errorf("/metrics: %w", err)
	}
	return n, nil
}

// metricSum returns the sum of the series of a counter in Prometheus text.
func metricSum(text []byte, name string) (int64, error) {
	var total float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return -1, fmt.Errorf("%s: %w", line, err)
		}
		total += v
		found = true
	}
	if !found {
		return -1, fmt.Errorf("no %s (metrics disabled, or no cache tier)", name)
	}
	return int64(total), nil
}
