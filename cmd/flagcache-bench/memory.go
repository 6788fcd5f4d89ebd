package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// memory measures the RSS of daemon processes holding the flags. Two
// daemons on the memory source load the same flags: one caching them in
// an LRU large enough for all (with a TTL longer than the run), one with
// no LRU. The difference is what the cache costs; added to the RSS of the
// empty daemon it estimates a sidecar whose source is elsewhere.
func (b *bench) memory(ctx context.Context) (*Memory, error) {
	o := &b.opts
	if b.fleet == nil {
		return nil, errors.New("needs --spawn: it measures daemon processes it starts")
	}
	sizes := slices.Sorted(slices.Values(o.MemorySizes))
	sizes = slices.Compact(sizes)
	largest := sizes[len(sizes)-1]
	ds := NewDataset(o.Prefix+"-m", largest, o.Size)

	lruSize := largest + largest/4 + 1024
	cached, err := b.memoryDaemon(ctx, ds, sizes, lruSize, b.fleet.startMemory)
	if err != nil {
		return nil, fmt.Errorf("the daemon with an LRU: %w", err)
	}
	bare, err := b.memoryDaemon(ctx, ds, sizes, 0, b.fleet.startMemory)
	if err != nil {
		return nil, fmt.Errorf("the daemon without LRU: %w", err)
	}
	m := &Memory{Note: "RSS (VmRSS) right after loading and reading every flag (again while the LRU held fewer); " +
		"cached: memory source + an LRU holding every flag; bare: memory source, cache.lru_size 0; " +
		"sidecar estimate = empty daemon + (cached − bare)"}
	var sidecar []memorySample
	if b.fleet.remoteSource() {
		// The config's source is a process of its own: a daemon on it
		// holding every flag in its LRU is a sidecar, measured.
		m.Note += "; sidecar measured: a daemon on the config's " + b.fleet.cfg.Source.Kind + " source with an LRU holding every flag"
		if sidecar, err = b.memoryDaemon(ctx, ds, sizes, lruSize, b.fleet.startSidecar); err != nil {
			return nil, fmt.Errorf("the sidecar on the %s source: %w", b.fleet.cfg.Source.Kind, err)
		}
	}
	for k, n := range sizes {
		c, bb := cached[k], bare[k]
		p := MemoryPoint{
			Flags: n, RawBytes: c.raw, EmptyRSS: cached[len(sizes)].rss, BareRSS: bb.rss, CachedRSS: c.rss,
			CacheBytesPerFlag: float64(c.rss-bb.rss) / float64(n), LRUEntries: c.lruEntries,
			LRUPurges: c.purges, ReadPasses: c.passes,
		}
		p.SidecarRSS = p.EmptyRSS + c.rss - bb.rss
		p.SidecarToRaw = float64(p.SidecarRSS) / float64(p.RawBytes)
		if sidecar != nil {
			p.MeasuredSidecarRSS = sidecar[k].rss
			p.MeasuredSidecarToRaw = float64(sidecar[k].rss) / float64(p.RawBytes)
		}
		m.Points = append(m.Points, p)
	}
	return m, nil
}

// memorySample is a daemon's RSS holding some flags.
type memorySample struct {
	rss        int64
	raw        int64 // bytes of the flags' GET bodies
	lruEntries int64 // flags in the LRU, from /metrics; -1 unknown
	purges     int64 // LRU purges so far, from /metrics; -1 unknown
	passes     int   // read passes it took to fill the LRU
}

// memoryDaemon starts a daemon with start (on the memory source, or the
// config's) with an LRU of lruSize and, for each size, loads flags up to it, reads each once, and
// samples the RSS. The sample after the last size is the empty daemon.
// Loading fills the LRU (a write installs the new version), and the read
// fills it again should the daemon have purged it meanwhile.
func (b *bench) memoryDaemon(ctx context.Context, ds *Dataset, sizes []int, lruSize int,
	start func(context.Context, int) (*Daemon, error)) ([]memorySample, error) {
	o := &b.opts
	d, err := start(ctx, lruSize)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	empty, err := ReadProc(d.PID)
	if err != nil {
		return nil, err
	}
	h, c, err := b.connect(d.URL, o.Conns)
	if err != nil {
		return nil, err
	}
	defer h.close()
	defer c.Close()
	var out []memorySample
	loaded := 0
	label := "memory (lru " + strconv.Itoa(lruSize) + ")"
	for _, n := range sizes {
		bar := newProgress(o.Progress, label+": load", n-loaded)
		from := loaded
		err := forEach(ctx, n-loaded, o.Conns, bar, func(ctx context.Context, k int) error {
			_, err := c.Create(ctx, ds.Defs[from+k])
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("loading: %w", err)
		}
		loaded = n
		s, err := b.memoryRead(ctx, h, d, ds, n, lruSize > 0, label)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return append(out, memorySample{rss: empty.RSS}), nil
}

// memoryFillPasses bounds the read passes of memoryRead.
const memoryFillPasses = 5

// memoryRead reads flags 0..n-1 once each, and again while the LRU (when
// cached) holds fewer than n: the daemon may purge its LRU while its
// change-feed repair catches up with the writes of the load. Then it
// samples the RSS.
func (b *bench) memoryRead(ctx context.Context, h *httpTarget, d *Daemon, ds *Dataset, n int, cached bool, label string) (memorySample, error) {
	s := memorySample{lruEntries: -1, purges: -1}
	bodies := make([]int64, n)
	for pass := 1; ; pass++ {
		t := sweep(ctx, n, b.opts.Conns, newProgress(b.opts.Progress, label+": read", n), func(ctx context.Context, i int) (Tier, error) {
			f, err := h.fetch(ctx, h.flagURL(ds.IDs[i]), "")
			bodies[i] = int64(len(f.body))
			return f.tier, err
		})
		if len(t.errors) > 0 {
			return s, fmt.Errorf("reading: %v", t.examples)
		}
		s.passes = pass
		if !cached {
			break
		}
		f, err := h.fetch(ctx, h.base+"/metrics", "")
		if err != nil {
			return s, fmt.Errorf("/metrics: %w", err)
		}
		s.lruEntries, _ = metricSum(f.body, "flagcache_lru_entries")
		s.purges, _ = metricSum(f.body, "flagcache_lru_purges_total")
		if s.lruEntries >= int64(n) || pass == memoryFillPasses {
			break
		}
	}
	st, err := ReadProc(d.PID)
	if err != nil {
		return s, err
	}
	s.rss = st.RSS
	for _, n := range bodies {
		s.raw += n
	}
	return s, nil
}
