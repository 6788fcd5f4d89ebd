package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/flagcache/flagcache/client"
)

// Scenario names, in the order a run goes through them.
const (
	ScenarioRead         = "read"
	ScenarioList         = "list"
	ScenarioPoll         = "poll"
	ScenarioMix          = "mix"
	ScenarioCold         = "cold"
	ScenarioStorm        = "storm"
	ScenarioInvalidation = "invalidation"
	ScenarioMemory       = "memory"
)

// Scenarios lists every scenario.
var Scenarios = []string{ScenarioRead, ScenarioList, ScenarioPoll, ScenarioMix, ScenarioCold, ScenarioStorm, ScenarioInvalidation, ScenarioMemory}

// Baselines lists every baseline.
var Baselines = []string{"static", "redis", "postgres"}

// Defaults of the measured times.
const (
	DefaultDuration = 20 * time.Second
	DefaultWarmup   = 5 * time.Second
)

// Options configure a run. Zero values are the documented defaults.
type Options struct {
	// URL is the daemon under test. Empty: with Spawn, a daemon the bench
	// starts; otherwise an error.
	URL string
	// Token is sent as a bearer token to every daemon.
	Token string
	// PID is the target daemon's process, for its RSS and CPU. 0: the
	// process listening on URL's port when URL is a loopback address.
	PID int

	Flags    int           // flags in the data set; default 10,000
	Size     int           // bytes of each flag's stored JSON, about; default 1024
	Conns    int           // concurrent keep-alive connections; default 50
	Duration time.Duration // measured time per target per scenario; default 20s
	Warmup   time.Duration // before the read scenario, shared by its targets; default 5s, negative: none
	Rounds   int           // interleaved rounds of the read scenario; default 4
	Mix      float64       // share of writes in the mix scenario; default 0.05
	Zipf     float64       // exponent s > 1 of the id distribution; default 1.1
	Seed     uint64        // of the id pickers; default 1
	Prefix   string        // of the flag ids; default bench-<random>
	Keep     bool          // leave the flags in the target daemon afterwards

	// Scenarios to run, of Scenarios. Nil: every one that applies (read
	// and mix; invalidation with URLB; with Spawn all of them).
	Scenarios []string
	// Baselines of the read scenario, of Baselines. Nil: all three.
	Baselines []string
	// Redis is the address of the redis baseline; default 127.0.0.1:6379.
	Redis string
	// Postgres is the DSN of the postgres baseline; default
	// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
	Postgres string

	// URLB is a second daemon sharing the target's source and Redis, for
	// the invalidation scenario.
	URLB string
	// Spawn, when set, lets the bench start daemons of its own: the
	// target when URL is empty, and those of the cold, storm,
	// invalidation and memory scenarios.
	Spawn *Spawner

	Storm       int   // concurrent requests of the storm; default 1,000
	Writes      int   // writes of the invalidation scenario; default 1,000
	MemorySizes []int // flag counts of the memory scenario; default 10,000 and 100,000

	// Progress, when set, gets progress bars and what the run is doing
	// (a terminal's stderr).
	Progress io.Writer
}

func (o *Options) setDefaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Flags, 10_000)
	def(&o.Size, 1024)
	def(&o.Conns, 50)
	def(&o.Rounds, 4)
	def(&o.Storm, 1000)
	def(&o.Writes, 1000)
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	}
	if o.Mix == 0 {
		o.Mix = 0.05
	}
	if o.Zipf == 0 {
		o.Zipf = 1.1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Prefix == "" {
		b := make([]byte, 4)
		rand.Read(b)
		o.Prefix = "bench-" + hex.EncodeToString(b)
	}
	if o.MemorySizes == nil {
		o.MemorySizes = []int{10_000, 100_000}
	}
	if o.Baselines == nil {
		o.Baselines = Baselines
	}
	if o.Redis == "" {
		o.Redis = "127.0.0.1:6379"
	}
	if o.Postgres == "" {
		o.Postgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	switch {
	case o.URL == "" && o.Spawn == nil:
		return errors.New("no daemon to measure: give its URL, or let the bench spawn one")
	case o.Flags < 1 || o.Size < 1 || o.Conns < 1 || o.Rounds < 1 || o.Storm < 1 || o.Writes < 1:
		return errors.New("flags, size, conns, rounds, storm and writes must be positive")
	case o.Duration < 0:
		return errors.New("the duration must be positive")
	case o.Mix < 0 || o.Mix > 1:
		return errors.New("the mix is a share of writes, between 0 and 1")
	case o.Zipf <= 1:
		return errors.New("the Zipf exponent must be above 1")
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return fmt.Errorf("unknown scenario %q (known: %v)", s, Scenarios)
		}
	}
	for _, b := range o.Baselines {
		if !slices.Contains(Baselines, b) {
			return fmt.Errorf("unknown baseline %q (known: %v)", b, Baselines)
		}
	}
	for _, n := range o.MemorySizes {
		if n < 1 {
			return errors.New("memory sizes must be positive")
		}
	}
	return nil
}

// wants reports whether scenario s runs: asked for, or applicable when
// none were named.
func (o *Options) wants(s string) bool {
	if o.Scenarios != nil {
		return slices.Contains(o.Scenarios, s)
	}
	switch s {
	case ScenarioRead, ScenarioList, ScenarioPoll, ScenarioMix:
		return true
	case ScenarioInvalidation:
		return o.URLB != "" || o.Spawn != nil
	}
	return o.Spawn != nil
}

// bench is one run in progress.
type bench struct {
	opts   Options
	report *Report
	ds     *Dataset
	fleet  *fleet // nil without Spawn

	target        *httpTarget
	client        *client.Client
	pid           int     // the target's process, 0 if unknown
	spawned       *Daemon // the fleet's first daemon: the target, or started to hold the data set
	spawnedLoaded bool    // the data set is in it
}

// Run runs the scenarios and returns the report. Setup failures of the
// target (unreachable, loading fails) are errors; a baseline or scenario
// that cannot run is reported as skipped, with the reason.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	b := &bench{opts: opts, report: newReport(opts), ds: NewDataset(opts.Prefix, opts.Flags, opts.Size)}
	err := b.run(ctx)
	if b.fleet != nil {
		b.status("stopping the spawned daemons and removing their data")
		err = errors.Join(err, b.fleet.cleanup(context.WithoutCancel(ctx)))
	}
	if err != nil {
		return nil, err
	}
	return b.report, nil
}

func (b *bench) run(ctx context.Context) error {
	o := &b.opts
	if o.Spawn != nil {
		f, err := newFleet(ctx, o.Spawn, runID())
		if err != nil {
			return err
		}
		b.fleet = f
	}
	url := o.URL
	if url == "" {
		b.status("starting a daemon")
		d, err := b.fleet.start(ctx, 1)
		if err != nil {
			return err
		}
		b.spawned, url = d, d.URL
		b.report.Target = d.URL + " (spawned)"
	}
	var err error
	if b.target, err = newHTTPTarget(url, o.Token, o.Conns); err != nil {
		return err
	}
	defer b.target.close()
	if b.client, err = b.target.newClient(o.Token); err != nil {
		return err
	}
	defer b.client.Close()
	b.findProcess(url)

	if o.wants(ScenarioRead) || o.wants(ScenarioList) || o.wants(ScenarioPoll) || o.wants(ScenarioMix) || (o.wants(ScenarioInvalidation) && o.URLB != "") {
		if o.URL != "" && !o.Keep {
			defer b.removeFlags(ctx)
		}
		if err := b.loadTarget(ctx); err != nil {
			return err
		}
		b.spawnedLoaded = b.spawned != nil
	}
	if o.wants(ScenarioRead) {
		if err := b.steadyRead(ctx); err != nil {
			return err
		}
	}
	if o.wants(ScenarioList) {
		b.report.List, err = b.collection(ctx, ScenarioList)
		b.skipIf(ScenarioList, err)
	}
	if o.wants(ScenarioPoll) {
		b.report.Poll, err = b.collection(ctx, ScenarioPoll)
		b.skipIf(ScenarioPoll, err)
	}
	if o.wants(ScenarioMix) {
		b.steadyMix(ctx)
	}
	if err := b.spawnedScenarios(ctx); err != nil {
		return err
	}
	if o.wants(ScenarioInvalidation) && o.URLB != "" {
		b.report.Invalidation, err = b.invalidation(ctx, b.target, o.URLB, "--url → --url-b")
		b.skipIf(ScenarioInvalidation, err)
	}
	if o.wants(ScenarioMemory) {
		b.report.Memory, err = b.memory(ctx)
		b.skipIf(ScenarioMemory, err)
	}
	return nil
}

// removeFlags deletes the data set from a daemon the bench does not own,
// unless the run was interrupted: then it says what is left.
func (b *bench) removeFlags(ctx context.Context) {
	if ctx.Err() != nil {
		b.report.warn(fmt.Sprintf("interrupted: the flags %s-* are left in %s", b.opts.Prefix, b.target.base))
		return
	}
	bar := newProgress(b.opts.Progress, "deleting the flags", b.ds.Len())
	if err := b.ds.remove(ctx, b.target, b.opts.Conns, bar); err != nil {
		b.report.warn(fmt.Sprintf("deleting the flags %s-* from %s: %v", b.opts.Prefix, b.target.base, err))
	}
}

// loadTarget creates the data set in the target and reads it back.
func (b *bench) loadTarget(ctx context.Context) error {
	o := &b.opts
	bar := newProgress(o.Progress, "loading the flags", o.Flags)
	if err := b.ds.load(ctx, b.client, o.Conns, bar); err != nil {
		return fmt.Errorf("loading %s: %w", b.target.base, err)
	}
	bar = newProgress(o.Progress, "reading them back", o.Flags)
	if err := b.ds.fetch(ctx, b.target, o.Conns, bar); err != nil {
		return fmt.Errorf("reading %s: %w", b.target.base, err)
	}
	return nil
}

// findProcess finds the target's process for its RSS and CPU.
func (b *bench) findProcess(url string) {
	info := &DaemonInfo{}
	b.report.Daemon = info
	switch {
	case b.opts.PID != 0:
		b.pid = b.opts.PID
	case b.spawned != nil:
		b.pid, info.Spawned = b.spawned.PID, true
	default:
		port, ok := LoopbackPort(url)
		if !ok {
			info.Unavailable = "the daemon is not on this machine's loopback: give --pid"
			return
		}
		pid, err := FindListener(port)
		if err != nil {
			info.Unavailable = err.Error()
			return
		}
		b.pid = pid
	}
	if _, err := ReadProc(b.pid); err != nil {
		info.Unavailable = err.Error()
		b.pid = 0
		return
	}
	info.PID = b.pid
	info.InProcess = b.pid == os.Getpid()
}

// skipIf reports scenario as skipped when err says why it could not run.
func (b *bench) skipIf(scenario string, err error) {
	if err != nil {
		b.report.skip(scenario, err.Error())
	}
}

// status tells the terminal what the run is doing.
func (b *bench) status(format string, args ...any) {
	if b.opts.Progress != nil {
		fmt.Fprintf(b.opts.Progress, format+"\n", args...)
	}
}

// runID names the run's storage.
func runID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
