package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache/internal/testenv"
)

var (
	buildOnce sync.Once
	built     string // the flagcache binary the tests spawn
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	if os.Getenv(staticRoleEnv) == staticCommand {
		// The test binary spawned as the static baseline's child.
		if err := runStatic(context.Background(), os.Args[2:], os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// flagcacheBin builds the product binary once per test run: the bench
// spawns it as `flagcache serve`, as it does for a user.
func flagcacheBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "flagcache-bench-test-"); buildErr != nil {
			return
		}
		built = filepath.Join(buildDir, "flagcache")
		out, err := exec.Command("go", "build", "-o", built, productPackage).CombinedOutput()
		if err != nil {
			buildErr = &exec.Error{Name: "go build " + productPackage + ": " + strings.TrimSpace(string(out)), Err: err}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// startDaemon starts `flagcache serve` on the embedded store, on a data
// directory of the test's own.
func startDaemon(t *testing.T) *Daemon {
	t.Helper()
	sp := &Spawner{Path: flagcacheBin(t)}
	d, err := sp.start(context.Background(), childOptions{dataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// runBench runs `flagcache-bench --json` with args and decodes its report.
func runBench(t *testing.T, args ...string) *Report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, append([]string{"--json"}, args...), &stdout, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("flagcache-bench exited with %d:\n%s", code, stderr.String())
	}
	var r Report
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
	d := startDaemon(t)
	bin := flagcacheBin(t)
	r := runBench(t, append(tiny, "--url", d.URL, "--spawn", "--flagcache", bin, "--storm", "50", "--memory-sizes", "100,200")...)

	if r.Daemon == nil || r.Daemon.PID != d.PID || r.Daemon.InProcess {
		t.Errorf("daemon: got %+v, want the daemon's pid %d found by its port", r.Daemon, d.PID)
	}
	if r.Settings.Flagcache != bin {
		t.Errorf("spawned binary: got %q, want %q", r.Settings.Flagcache, bin)
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

	checkCollections(t, r)

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
	if why := r.Skipped[ScenarioInvalidation]; !strings.Contains(why, "embedded") {
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
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, section := range []string{"\nread: ", "\nlist: ", "\npoll: ", "static statuses: 200 × 0, 304 × ", "daemon / daemon-get: throughput", "\nmix: ", "\ncold: ", "\nstorm: ", "\nmemory: ", "\nskipped:", "spawned daemons: " + bin, "daemon / static: throughput"} {
		if !strings.Contains(text.String(), section) {
			t.Errorf("the text report has no %q:\n%s", section, text.String())
		}
	}

	// The flags are gone from the daemon under test.
	res, err := http.Get(d.URL + "/v1/flags:count")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"count":0`) {
		t.Errorf("after the run: %s, want the bench's flags deleted", body)
	}
}

// TestBenchInvalidation measures invalidations between two daemons the
// bench spawns on one Postgres and one Redis (a schema and a key prefix of
// the run's own, removed afterwards).
func TestBenchInvalidation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pg, err := pgx.Connect(ctx, testenv.PostgresDSN())
	if err != nil {
		testenv.Unreachable(t, "postgres", err)
	}
	defer pg.Close(context.Background())
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		testenv.Unreachable(t, "redis", err)
	}
	t.Setenv("FLAGCACHE_SOURCE_KIND", "postgres")
	t.Setenv("FLAGCACHE_POSTGRES_DSN", testenv.PostgresDSN())
	t.Setenv("FLAGCACHE_REDIS_ADDRS", testenv.RedisAddr())
	r := runBench(t, append(tiny, "--spawn", "--flagcache", flagcacheBin(t), "--scenarios", "invalidation", "--writes", "40")...)
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

// TestBenchMemorySidecar: spawned on a source that is a process of its
// own (Redis here), the memory scenario also measures a daemon on it that
// holds every flag in its LRU, beside the estimate from the memory source.
func TestBenchMemorySidecar(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		testenv.Unreachable(t, "redis", err)
	}
	t.Setenv("FLAGCACHE_SOURCE_KIND", "redis")
	t.Setenv("FLAGCACHE_REDIS_ADDRS", testenv.RedisAddr())
	r := runBench(t, append(tiny, "--spawn", "--flagcache", flagcacheBin(t), "--scenarios", "memory", "--memory-sizes", "100,200")...)
	m := r.Memory
	if m == nil || len(m.Points) != 2 {
		t.Fatalf("memory: got %+v, want two sizes (skipped: %v)", m, r.Skipped)
	}
	for _, p := range m.Points {
		if p.MeasuredSidecarRSS <= 0 || p.MeasuredSidecarToRaw <= 0 || p.LRUEntries != int64(p.Flags) {
			t.Errorf("memory: got %+v, want a measured sidecar RSS and every flag in the LRU", p)
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "measured sidecar RSS") {
		t.Errorf("the text report has no measured sidecar:\n%s", text.String())
	}
}

func resultNamed(t *testing.T, st *Steady, name string) *Result {
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
func checkSteady(t *testing.T, what string, r *Result, writes bool) {
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

// TestProductBinaryHasNoBenchCode: the benchmark rig is this binary's
// alone. `go list -deps` of the product names no package of it, and the
// product has no bench command.
func TestProductBinaryHasNoBenchCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", productPackage).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", productPackage, err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "github.com/flagcache/flagcache/httpapi") {
		t.Fatalf("go list -deps %s: %d packages, want the product's", productPackage, len(deps))
	}
	self, err := exec.Command("go", "list", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range deps {
		if dep == strings.TrimSpace(string(self)) || strings.Contains(dep, "/bench") {
			t.Errorf("%s depends on %s", productPackage, dep)
		}
	}
	cmd := exec.Command(flagcacheBin(t), "bench")
	stderr, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(stderr), `unknown command "bench"`) {
		t.Errorf("flagcache bench: exit %d, %s; want 2 and an unknown command", code, stderr)
	}
}

// checkCollections checks the list and poll scenarios: the daemon and the
// static server read the same pages, the static server answers every poll
// with 304, and the poll has the daemon's single-flag GET beside it.
func checkCollections(t *testing.T, r *Report) {
	t.Helper()
	if r.List == nil || r.Poll == nil {
		t.Fatalf("list %v, poll %v: want both (skipped: %v)", r.List, r.Poll, r.Skipped)
	}
	for _, name := range []string{"daemon", "static"} {
		checkSteady(t, "list "+name, resultNamed(t, r.List, name), false)
		checkSteady(t, "poll "+name, resultNamed(t, r.Poll, name), false)
	}
	checkSteady(t, "poll daemon-get", resultNamed(t, r.Poll, "daemon-get"), false)
	if q := r.List.Ratios; len(q) != 1 || q[0].Baseline != "static" || q[0].Throughput <= 0 {
		t.Errorf("list ratios: got %+v, want the static one, positive", q)
	}
	if q := r.Poll.Ratios; len(q) != 2 || q[0].Baseline != "static" || q[1].Baseline != "daemon-get" {
		t.Errorf("poll ratios: got %+v, want static and daemon-get", q)
	}
	static := resultNamed(t, r.Poll, "static")
	if static.Statuses["304"] != static.Requests || static.Statuses["200"] != 0 {
		t.Errorf("poll static statuses %v over %d requests, want every one 304", static.Statuses, static.Requests)
	}
	daemon := resultNamed(t, r.Poll, "daemon")
	if daemon.Statuses["200"]+daemon.Statuses["304"] != daemon.Requests {
		t.Errorf("poll daemon statuses %v over %d requests, want them all counted", daemon.Statuses, daemon.Requests)
	}
	if daemon.Process == nil || resultNamed(t, r.List, "daemon").Process == nil {
		t.Errorf("no daemon process figures in list or poll")
	}
}
