package main

import (
	"maps"
	"time"
)

// Report is what a run measured. It encodes as the --json output.
type Report struct {
	Target       string            `json:"target"`
	Settings     Settings          `json:"settings"`
	Daemon       *DaemonInfo       `json:"daemon,omitempty"`
	Read         *Steady           `json:"read,omitempty"`
	List         *Steady           `json:"list,omitempty"`
	Poll         *Steady           `json:"poll,omitempty"`
	Mix          *Steady           `json:"mix,omitempty"`
	Cold         *Cold             `json:"cold,omitempty"`
	Storm        *Storm            `json:"storm,omitempty"`
	Invalidation *Invalidation     `json:"invalidation,omitempty"`
	Memory       *Memory           `json:"memory,omitempty"`
	Skipped      map[string]string `json:"skipped,omitempty"` // scenario → why it did not run
	Warnings     []string          `json:"warnings,omitempty"`
}

// Settings are the run's workload.
type Settings struct {
	Flags       int      `json:"flags"`
	Size        int      `json:"size_bytes"`
	Conns       int      `json:"conns"`
	Zipf        float64  `json:"zipf_s"`
	Duration    string   `json:"duration"`
	Warmup      string   `json:"warmup"`
	Rounds      int      `json:"rounds"`
	Mix         float64  `json:"mix_writes"`
	Seed        uint64   `json:"seed"`
	Prefix      string   `json:"prefix"`
	Storm       int      `json:"storm_requests"`
	Writes      int      `json:"invalidation_writes"`
	MemorySizes []int    `json:"memory_sizes"`
	Scenarios   []string `json:"scenarios,omitempty"`
	Flagcache   string   `json:"flagcache_binary,omitempty"` // the daemons spawned run this binary
}

// DaemonInfo is the target's process.
type DaemonInfo struct {
	PID     int  `json:"pid,omitempty"`
	Spawned bool `json:"spawned,omitempty"`
	// InProcess: the daemon runs inside the bench's own process, so its
	// RSS and CPU include the load generator's.
	InProcess bool `json:"in_process,omitempty"`
	// Unavailable says why there are no RSS and CPU numbers.
	Unavailable string `json:"unavailable,omitempty"`
}

// Steady is a steady-load scenario: one result per target, the daemon
// first, and the daemon's ratio to each baseline that ran.
type Steady struct {
	Description string    `json:"description"`
	Results     []*Result `json:"results"`
	Ratios      []Ratio   `json:"ratios,omitempty"`
}

// Result is one target's steady load.
type Result struct {
	Name          string             `json:"name"`
	Skipped       string             `json:"skipped,omitempty"`
	Seconds       float64            `json:"seconds,omitempty"`
	Requests      int64              `json:"requests,omitempty"` // successful ones
	RPS           float64            `json:"requests_per_second,omitempty"`
	Read          *Latency           `json:"read,omitempty"`
	Write         *Latency           `json:"write,omitempty"`
	Errors        map[string]int64   `json:"errors,omitempty"`       // of reads, by kind
	WriteErrors   map[string]int64   `json:"write_errors,omitempty"` // of writes, by kind
	ErrorExamples map[string]string  `json:"error_examples,omitempty"`
	Tiers         map[string]float64 `json:"tiers,omitempty"`    // share of reads per X-Flagcache-Tier
	Statuses      map[string]int64   `json:"statuses,omitempty"` // of the poll scenario's requests: "200", "304"
	Process       *ProcessUse        `json:"process,omitempty"`
}

// Latency summarises a histogram, in microseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99_9_us"`
	Max   float64 `json:"max_us"`
}

// ProcessUse is the daemon process's share of a scenario.
type ProcessUse struct {
	RSSBytes        int64   `json:"rss_bytes"` // at the end
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUPerRequestUs float64 `json:"cpu_us_per_request,omitempty"`
}

// Ratio is the daemon against one baseline: throughput (above 1: the
// daemon serves more) and p99 (above 1: the daemon is slower).
type Ratio struct {
	Baseline   string  `json:"baseline"`
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
	// CPUPerRequest is the daemon's CPU per request over the baseline's,
	// when both processes were measured (the static baseline's is).
	CPUPerRequest float64 `json:"cpu_per_request,omitempty"`
}

// Cold is the first read of every flag from a daemon started with its
// LRU and its Redis cache empty, and then a second, warm pass.
type Cold struct {
	Flags         int                `json:"flags"`
	WarmSeconds   float64            `json:"time_to_warm_seconds"` // wall time of the first pass
	First         *Latency           `json:"first_read"`
	FirstTiers    map[string]float64 `json:"first_read_tiers,omitempty"`
	Warm          *Latency           `json:"warm_read"`
	WarmTiers     map[string]float64 `json:"warm_read_tiers,omitempty"`
	Errors        map[string]int64   `json:"errors,omitempty"`
	ErrorExamples map[string]string  `json:"error_examples,omitempty"`
}

// Storm is many concurrent reads of one cold flag on each daemon.
type Storm struct {
	Requests int           `json:"requests_per_daemon"`
	ID       string        `json:"id"`
	Daemons  []StormDaemon `json:"daemons"`
}

// StormDaemon is the storm on one daemon.
type StormDaemon struct {
	Name        string             `json:"name"`
	SourceReads int64              `json:"source_reads"` // -1: unknown (see Note)
	Latency     *Latency           `json:"latency"`
	Tiers       map[string]float64 `json:"tiers,omitempty"`
	Errors      map[string]int64   `json:"errors,omitempty"`
	Note        string             `json:"note,omitempty"`
}

// Invalidation is the time from a write acknowledged by daemon A until
// daemon B serves the new version.
type Invalidation struct {
	Pair          string            `json:"pair"`
	Writes        int               `json:"writes"`
	Flags         int               `json:"flags"`
	Latency       *Latency          `json:"latency"`
	WriteLatency  *Latency          `json:"write_latency"`
	Errors        map[string]int64  `json:"errors,omitempty"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"`
}

// Memory is the RSS of daemon processes holding n flags.
type Memory struct {
	Note   string        `json:"note"`
	Points []MemoryPoint `json:"points"`
}

// MemoryPoint is the memory scenario at one size.
type MemoryPoint struct {
	Flags    int   `json:"flags"`
	RawBytes int64 `json:"raw_bytes"` // the flags' stored JSON, as served
	// EmptyRSS is the cached daemon before it held any flag.
	EmptyRSS int64 `json:"empty_rss_bytes"`
	// BareRSS is a daemon without LRU (cache.lru_size 0) whose memory
	// source holds the flags.
	BareRSS int64 `json:"bare_rss_bytes"`
	// CachedRSS is a daemon whose LRU and memory source hold the flags.
	CachedRSS         int64   `json:"cached_rss_bytes"`
	CacheBytesPerFlag float64 `json:"cache_bytes_per_flag"` // (CachedRSS − BareRSS) / Flags
	// SidecarRSS estimates a daemon whose source is elsewhere (Postgres):
	// EmptyRSS + CachedRSS − BareRSS.
	SidecarRSS   int64   `json:"sidecar_rss_bytes"`
	SidecarToRaw float64 `json:"sidecar_to_raw"`
	// MeasuredSidecarRSS is a daemon on the config's source when that is
	// a process of its own (Postgres, Redis) holding the flags in its LRU:
	// the sidecar measured, not estimated. 0 on other sources.
	MeasuredSidecarRSS   int64   `json:"measured_sidecar_rss_bytes,omitempty"`
	MeasuredSidecarToRaw float64 `json:"measured_sidecar_to_raw,omitempty"`
	LRUEntries           int64   `json:"lru_entries"` // in the cached daemon at the sample (flagcache_lru_entries); -1 unknown
	LRUPurges            int64   `json:"lru_purges"`  // of the cached daemon so far (flagcache_lru_purges_total)
	ReadPasses           int     `json:"read_passes"` // over every flag, until the LRU held them all (at most 5)
}

func newReport(o Options) *Report {
	r := &Report{
		Target: o.URL,
		Settings: Settings{
			Flags: o.Flags, Size: o.Size, Conns: o.Conns, Zipf: o.Zipf,
			Duration: o.Duration.String(), Warmup: max(o.Warmup, 0).String(), Rounds: o.Rounds,
			Mix: o.Mix, Seed: o.Seed, Prefix: o.Prefix, Storm: o.Storm, Writes: o.Writes,
			MemorySizes: o.MemorySizes, Scenarios: o.Scenarios,
		},
	}
	if o.Spawn != nil {
		r.Settings.Flagcache = o.Spawn.Path
	}
	return r
}

func (r *Report) skip(scenario, why string) {
	if r.Skipped == nil {
		r.Skipped = map[string]string{}
	}
	r.Skipped[scenario] = why
}

func (r *Report) warn(msg string) { r.Warnings = append(r.Warnings, msg) }

// newResult summarises a tally.
func newResult(name string, t *tally) *Result {
	res := &Result{
		Name:    name,
		Seconds: t.elapsed.Seconds(),
		Read:    latency(t.reads),
		Write:   latency(t.writes),
		Tiers:   t.tiers.Shares(),
	}
	res.Requests = int64(t.reads.Count() + t.writes.Count())
	if res.Seconds > 0 {
		res.RPS = float64(res.Requests) / res.Seconds
	}
	if len(t.errors) > 0 {
		res.Errors = maps.Clone(t.errors)
	}
	if len(t.writeErrors) > 0 {
		res.WriteErrors = maps.Clone(t.writeErrors)
	}
	if len(t.examples) > 0 {
		res.ErrorExamples = maps.Clone(t.examples)
	}
	return res
}

// latency summarises h; nil when it is empty.
func latency(h *Histogram) *Latency {
	if h.Count() == 0 {
		return nil
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	return &Latency{
		Count: h.Count(), Mean: us(h.Mean()),
		P50: us(h.Quantile(0.5)), P90: us(h.Quantile(0.9)), P99: us(h.Quantile(0.99)),
		P999: us(h.Quantile(0.999)), Max: us(h.Max()),
	}
}

// ratios compares the first result (the daemon) with each baseline that
// ran.
func ratios(results []*Result) []Ratio {
	if len(results) == 0 || results[0].Read == nil {
		return nil
	}
	d := results[0]
	var out []Ratio
	for _, r := range results[1:] {
		if r.Skipped != "" || r.Read == nil || r.RPS == 0 {
			continue
		}
		q := Ratio{Baseline: r.Name, Throughput: d.RPS / r.RPS, P99: d.Read.P99 / r.Read.P99}
		if d.Process != nil && r.Process != nil && r.Process.CPUPerRequestUs > 0 {
			q.CPUPerRequest = d.Process.CPUPerRequestUs / r.Process.CPUPerRequestUs
		}
		out = append(out, q)
	}
	return out
}
