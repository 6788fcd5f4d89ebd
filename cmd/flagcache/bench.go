package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/flagcache/flagcache/internal/bench"
)

// bench runs `flagcache bench`: load a data set into a daemon, measure it
// against its baselines, print the report (see internal/bench and
// docs/benchmarks.md).
func (c *cli) bench(ctx context.Context, args []string) error {
	fs := c.flagSet("bench")
	var o bench.Options
	fs.StringVar(&o.URL, "url", "", "daemon under test (default $"+envURL+", else "+defaultURL+"; none with --spawn: a spawned one)")
	fs.StringVar(&o.Token, "token", "", "bearer `token` for every daemon (default $"+envToken+")")
	fs.IntVar(&o.PID, "pid", 0, "the daemon's process, for RSS and CPU (default: the one listening on the URL's loopback port)")
	fs.IntVar(&o.Flags, "flags", 10_000, "flags in the data set")
	fs.IntVar(&o.Size, "size", 1024, "`bytes` of each flag's stored JSON, about")
	fs.IntVar(&o.Conns, "conns", 50, "concurrent keep-alive connections")
	fs.DurationVar(&o.Duration, "duration", bench.DefaultDuration, "measured time per target per scenario (the read scenario's is split in rounds)")
	warmup := fs.Duration("warmup", bench.DefaultWarmup, "warm-up before the read scenario, shared by its targets (0: none)")
	fs.IntVar(&o.Rounds, "rounds", 4, "interleaved rounds of the read scenario")
	fs.Float64Var(&o.Mix, "mix", 0.05, "share of If-Match writes in the mix scenario")
	fs.Float64Var(&o.Zipf, "zipf", 1.1, "Zipf exponent s > 1 of the ids read")
	seed := fs.Uint64("seed", 1, "seed of the id sequences")
	fs.StringVar(&o.Prefix, "prefix", "", "prefix of the flag ids (default bench-<random>)")
	fs.BoolVar(&o.Keep, "keep", false, "leave the flags in the daemon under test")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios of "+strings.Join(bench.Scenarios, ",")+" (default: all that apply)")
	baselines := fs.String("baselines", strings.Join(bench.Baselines, ","), "comma-separated baselines of the read scenario (\"\": none)")
	fs.StringVar(&o.Redis, "redis", "127.0.0.1:6379", "`address` of the redis baseline")
	fs.StringVar(&o.Postgres, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "`DSN` of the postgres baseline (a schema of its own, dropped after)")
	fs.StringVar(&o.URLB, "url-b", "", "a second daemon sharing the target's source and Redis, for the invalidation scenario")
	spawn := fs.Bool("spawn", false, "start daemons (this binary's serve) for the cold, storm, invalidation and memory scenarios")
	config := fs.String("config", "", "config `file` of the daemons --spawn starts (default $FLAGCACHE_CONFIG; they get storage of their own)")
	fs.IntVar(&o.Storm, "storm", 1000, "concurrent requests of the storm, per daemon")
	fs.IntVar(&o.Writes, "writes", 1000, "writes of the invalidation scenario")
	memory := fs.String("memory-sizes", "10000,100000", "comma-separated flag counts of the memory scenario")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}

	o.Warmup, o.Seed = *warmup, *seed
	if o.Warmup == 0 {
		o.Warmup = -1 // none
	}
	if o.Token == "" {
		o.Token = c.getenv(envToken)
	}
	if o.URL == "" && !*spawn {
		if o.URL = c.getenv(envURL); o.URL == "" {
			o.URL = defaultURL
		}
	}
	if *scenarios != "" {
		o.Scenarios = splitList(*scenarios)
	}
	o.Baselines = splitList(*baselines)
	if o.Baselines == nil {
		o.Baselines = []string{}
	}
	for _, s := range splitList(*memory) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return usageError{fmt.Sprintf("--memory-sizes: %q is not a number", s)}
		}
		o.MemorySizes = append(o.MemorySizes, n)
	}
	if *spawn {
		path, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this binary to spawn daemons: %w", err)
		}
		o.Spawn = &bench.Spawner{Path: path, Config: *config}
	}
	if f, ok := c.stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			o.Progress = f
		}
	}

	report, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteText(c.stdout)
}

// splitList splits a comma-separated flag value; nil when empty.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
