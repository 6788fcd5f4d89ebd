package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagcache/flagcache/internal/bench"
	"github.com/flagcache/flagcache/internal/testenv"
)

// envRunCLI makes the test binary act as the flagcache binary: `flagcache
// bench --spawn` starts daemons by re-running its own executable, which in
// a test is this binary.
const envRunCLI = "FLAGCACHE_TEST_BINARY_IS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(envRunCLI) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	verifyNoLeaks(m)
}

// runBench runs `flagcache bench --json` with args and decodes its report.
func runBench(t *testing.T, args ...string) *bench.Report {
	t.Helper()
	t.Setenv(envRunCLI, "1") // inherited by the daemons it spawns
	var stdout, stderr bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := c.run(ctx, append([]string{"bench", "--json"}, args...)); code != 0 {
		t.Fatalf("flagcache bench exited with %d:\n%s", code, stderr.String())
	}
	var r bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, stdout.String())
	}
	return &r
}

// tiny is a run of a few hundred milliseconds, with the baselines on the
// test servers.
var tiny = []string{"--flags", "200", "--conns", "2", "--duration", "300ms", "--warmup", "100ms", "--rounds", "2",
	"--redis", testenv.RedisAddr(), "--postgres", testenv.PostgresDSN()}

func TestBench(t *testing.T) {
	d := startServe(t, nil)
	r := runBench(t, append(tiny, "--url", d.base, "--spawn", "--storm", "50", "--memory-sizes", "100,200")...)

	if r.Daemon == nil || r.Daemon.PID != os.Getpid() || !r.Daemon.InProcess {
		t.Errorf("daemon: got %+v, want this test's pid %d found by its port, in process", r.Daemon, os.Getpid())
	}
	if r.Read == nil {
		t.Fatal("no read scenario")
	}
	for _, name := range []string{"daemon", "static", "redis", "postgres"} {
		res := resultNamed(t, r.Read, name)
		if res.Skipped != "" {
			if name == "daemon" || name == "static" || testenv.RequireServices() {
				t.Errorf("read: %s skipped: %s", name, res.Skipped)
			} else {
				t.Logf("read: the %s baseline was skipped: %s", name, res.Skipped)
			}
			continue
		}
		checkSteady(t, "read "+name, res, false)
	}
	if got := resultNamed(t, r.Read, "daemon").Tiers["lru"]; got < 0.9 {
		t.Errorf("read: LRU share %v, want most reads from the LRU (the data set was read back after loading)", got)
	}
	if p := resultNamed(t, r.Read, "daemon").Process; p == nil || p.RSSBytes <= 0 || p.CPUSeconds <= 0 {
		t.Errorf("read: daemon process %+v, want RSS and CPU", p)
	}
	if len(r.Read.Ratios) == 0 || r.Read.Ratios[0].Baseline != "static" || r.Read.Ratios[0].Throughput <= 0 || r.Read.Ratios[0].P99 <= 0 {
		t.Errorf("read ratios: got %+v, want the static one first, positive", r.Read.Ratios)
	}

	if r.Mix == nil {
		t.Fatal("no mix scenario")
	}
	checkSteady(t, "mix", resultNamed(t, r.Mix, "daemon"), true)

	if c := r.Cold; c == nil {
		t.Errorf("no cold scenario (skipped: %v)", r.Skipped)
	} else {
		if c.Flags != 200 || c.First == nil || c.First.Count != 200 || c.Warm == nil || c.Warm.Count != 200 || c.WarmSeconds <= 0 {
			t.Errorf("cold: got %+v, want 200 first and 200 warm reads and a time to warm", c)
		}
		if c.FirstTiers["source"] < 0.9 || c.WarmTiers["lru"] != 1 {
			t.Errorf("cold: tiers first %v, second %v; want the source first, then the LRU", c.FirstTiers, c.WarmTiers)
		}
	}
	if s := r.Storm; s == nil || len(s.Daemons) != 1 {
		t.Errorf("storm: got %+v, want one daemon (skipped: %v)", s, r.Skipped)
	} else if d := s.Daemons[0]; d.SourceReads != 1 || d.Latency == nil || d.Latency.Count != 50 {
		t.Errorf("storm: got %+v, want 1 source read and 50 reads", d)
	}
	if why := r.Skipped[bench.ScenarioInvalidation]; !strings.Contains(why, "embedded") {
		t.Errorf("invalidation: skipped %q, want skipped for the embedded source", why)
	}
	if m := r.Memory; m == nil || len(m.Points) != 2 {
		t.Errorf("memory: got %+v, want two sizes (skipped: %v)", m, r.Skipped)
	} else {
		for _, p := range m.Points {
			if p.RawBytes < int64(p.Flags)*900 || p.EmptyRSS <= 0 || p.BareRSS < p.EmptyRSS/2 || p.CachedRSS <= 0 || p.LRUEntries != int64(p.Flags) {
				t.Errorf("memory: got %+v, want ~1 KiB a flag, RSS figures and every flag in the LRU", p)
			}
		}
	}
	if len(r.Goals) != 7 {
		t.Errorf("goals: got %d, want the issue's 7", len(r.Goals))
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, section := range []string{"\nread: ", "\nmix: ", "\ncold: ", "\nstorm: ", "\nmemory: ", "\nskipped:", "\ngoals (issue 8):", "daemon / static: throughput"} {
		if !strings.Contains(text.String(), section) {
			t.Errorf("the text report has no %q:\n%s", section, text.String())
		}
	}

	// The flags are gone from the daemon under test.
	if res := d.do(t, "GET", "/v1/flags:count", ""); !strings.Contains(string(res.body), `"count":0`) {
		t.Errorf("after the run: %s, want the bench's flags deleted", res.body)
	}
}

// TestBenchInvalidation measures invalidations between two daemons on
// one Postgres and one Redis.
func TestBenchInvalidation(t *testing.T) {
	env := redisEnv(t, postgresEnv(t))
	a, b := startServe(t, env), startServe(t, env)
	r := runBench(t, append(tiny, "--url", a.base, "--url-b", b.base, "--scenarios", "invalidation", "--writes", "40")...)
	inv := r.Invalidation
	if inv == nil {
		t.Fatalf("no invalidation scenario (skipped: %v)", r.Skipped)
	}
	if inv.Latency == nil || inv.Latency.Count != 40 || inv.Errors != nil {
		t.Errorf("invalidation: got %+v with errors %v, want 40 measured writes and no error", inv.Latency, inv.Errors)
	}
	if l := inv.Latency; l != nil && (l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max) {
		t.Errorf("invalidation latency: got %+v, want 0 < p50 ≤ p99 ≤ max", l)
	}
	if r.Read != nil || r.Mix != nil || r.Cold != nil {
		t.Errorf("scenarios not asked for ran")
	}
}

func resultNamed(t *testing.T, st *bench.Steady, name string) *bench.Result {
	t.Helper()
	for _, r := range st.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result %q in %+v", name, st.Results)
	return nil
}

// checkSteady checks one target's steady load for sane numbers.
func checkSteady(t *testing.T, what string, r *bench.Result, writes bool) {
	t.Helper()
	if r.RPS <= 0 || r.Seconds < 0.1 || r.Read == nil || len(r.Errors) > 0 {
		t.Errorf("%s: got %.0f req/s over %.2fs, reads %+v, errors %v; want reads and no read error", what, r.RPS, r.Seconds, r.Read, r.Errors)
		return
	}
	if l := r.Read; l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
		t.Errorf("%s: latency %+v, want 0 < p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max", what, l)
	}
	if writes && (r.Write == nil || r.Write.Count == 0) {
		t.Errorf("%s: no write measured (write errors %v)", what, r.WriteErrors)
	}
	for kind := range r.WriteErrors {
		if kind != "version_conflict" {
			t.Errorf("%s: write error %s (%s), want conflicts at most", what, kind, r.ErrorExamples[kind])
		}
	}
}
