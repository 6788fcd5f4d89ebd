package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	envURL     = "FLAGCACHE_URL"
	envToken   = "FLAGCACHE_TOKEN"
	defaultURL = "http://127.0.0.1:8080"
	// productPackage is what --spawn builds when no flagcache binary is
	// found.
	productPackage = "github.com/flagcache/flagcache/cmd/flagcache"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && os.Args[1] == staticCommand {
		// The static baseline's child process (static.go), not for users.
		err := runStatic(ctx, os.Args[2:], os.Stdout, os.Stdin)
		stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "flagcache-bench static: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// usageError is a command line that cannot run: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run runs one invocation and returns its exit code: 0 on success, 2 on a
// usage error, 1 on any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := benchCommand(ctx, args, stdout, stderr, getenv)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "flagcache-bench: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "flagcache-bench: %v\n", err)
	return 1
}

// benchCommand loads a data set into a daemon, measures it against its
// baselines and prints the report (see doc.go and docs/benchmarks.md).
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("flagcache-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.URL, "url", "", "daemon under test (default $"+envURL+", else "+defaultURL+"; none with --spawn: a spawned one)")
	fs.StringVar(&o.Token, "token", "", "bearer `token` for every daemon (default $"+envToken+")")
	fs.IntVar(&o.PID, "pid", 0, "the daemon's process, for RSS and CPU (default: the one listening on the URL's loopback port)")
	fs.IntVar(&o.Flags, "flags", 10_000, "flags in the data set")
	fs.IntVar(&o.Size, "size", 1024, "`bytes` of each flag's stored JSON, about")
	fs.IntVar(&o.Conns, "conns", 50, "concurrent keep-alive connections")
	fs.DurationVar(&o.Duration, "duration", DefaultDuration, "measured time per target per scenario (the read scenario's is split in rounds)")
	warmup := fs.Duration("warmup", DefaultWarmup, "warm-up before the read scenario, shared by its targets (0: none)")
	fs.IntVar(&o.Rounds, "rounds", 4, "interleaved rounds of the read scenario")
	fs.Float64Var(&o.Mix, "mix", 0.05, "share of If-Match writes in the mix scenario")
	fs.Float64Var(&o.Zipf, "zipf", 1.1, "Zipf exponent s > 1 of the ids read")
	seed := fs.Uint64("seed", 1, "seed of the id sequences")
	fs.StringVar(&o.Prefix, "prefix", "", "prefix of the flag ids (default bench-<random>)")
	fs.BoolVar(&o.Keep, "keep", false, "leave the flags in the daemon under test")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios of "+strings.Join(Scenarios, ",")+" (default: all that apply)")
	baselines := fs.String("baselines", strings.Join(Baselines, ","), "comma-separated baselines of the read scenario (\"\": none)")
	fs.StringVar(&o.Redis, "redis", "127.0.0.1:6379", "`address` of the redis baseline")
	fs.StringVar(&o.Postgres, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "`DSN` of the postgres baseline (a schema of its own, dropped after)")
	fs.StringVar(&o.URLB, "url-b", "", "a second daemon sharing the target's source and Redis, for the invalidation scenario")
	spawn := fs.Bool("spawn", false, "start daemons (`flagcache serve` of --flagcache) for the cold, storm, invalidation and memory scenarios")
	binary := fs.String("flagcache", "", "`path` of the flagcache binary --spawn runs (default: flagcache beside this binary, else on $PATH, else built with go build "+productPackage+")")
	config := fs.String("config", "", "config `file` of the daemons --spawn starts (default $FLAGCACHE_CONFIG; they get storage of their own)")
	fs.IntVar(&o.Storm, "storm", 1000, "concurrent requests of the storm, per daemon")
	fs.IntVar(&o.Writes, "writes", 1000, "writes of the invalidation scenario")
	memory := fs.String("memory-sizes", "10000,100000", "comma-separated flag counts of the memory scenario")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}

	o.Warmup, o.Seed = *warmup, *seed
	if o.Warmup == 0 {
		o.Warmup = -1 // none
	}
	if o.Token == "" {
		o.Token = getenv(envToken)
	}
	if o.URL == "" && !*spawn {
		if o.URL = getenv(envURL); o.URL == "" {
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
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			o.Progress = f
		}
	}
	if *spawn {
		path, cleanup, err := flagcacheBinary(ctx, *binary, o.Progress)
		if err != nil {
			return err
		}
		defer cleanup()
		o.Spawn = &Spawner{Path: path, Config: *config}
	}

	report, err := Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteText(stdout)
}

// flagcacheBinary returns the flagcache binary to spawn: the one named,
// else flagcache beside this executable, else on $PATH, else one built
// with `go build` into a temporary directory (removed by cleanup).
func flagcacheBinary(ctx context.Context, named string, progress io.Writer) (path string, cleanup func(), err error) {
	cleanup = func() {}
	if named != "" {
		if _, err := os.Stat(named); err != nil {
			return "", nil, usageError{fmt.Sprintf("--flagcache: %v", err)}
		}
		path, err := filepath.Abs(named)
		return path, cleanup, err
	}
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), "flagcache")
		if st, err := os.Stat(beside); err == nil && !st.IsDir() {
			return beside, cleanup, nil
		}
	}
	if found, err := exec.LookPath("flagcache"); err == nil {
		path, err := filepath.Abs(found)
		return path, cleanup, err
	}
	dir, err := os.MkdirTemp("", "flagcache-bench-bin-")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "flagcache")
	if progress != nil {
		fmt.Fprintf(progress, "no flagcache binary found: go build -o %s %s\n", path, productPackage)
	}
	out, err := exec.CommandContext(ctx, "go", "build", "-o", path, productPackage).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("no flagcache binary (--flagcache), and go build %s failed: %w: %s", productPackage, err, strings.TrimSpace(string(out)))
	}
	return path, func() { os.RemoveAll(dir) }, nil
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
