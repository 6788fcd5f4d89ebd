package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/flagcache/flagcache/internal/testenv"
)

// Private is a Postgres cluster of one test's own, which it may stop and
// start without disturbing the shared server: initdb in a temporary
// directory, a free loopback port, trust authentication, no Unix socket.
// Running as root, the server runs as the postgres user (postgres refuses
// root).
type Private struct {
	// DSN reaches the cluster's postgres database as the postgres user.
	DSN string

	tb      testing.TB
	bin     string // directory of initdb, pg_ctl and postgres
	dir     string // owned by the server's user
	port    int
	runAs   string // "" runs the binaries as the current user
	mu      sync.Mutex
	running bool
}

// StartPrivate creates and starts a private cluster, stopped and removed
// when the test ends. Without the Postgres server binaries (or, as root,
// without a postgres user) it stops the test through testenv.Unreachable.
func StartPrivate(tb testing.TB) *Private {
	tb.Helper()
	bin, err := serverBinaries()
	if err != nil {
		testenv.Unreachable(tb, "postgres server binaries", err)
	}
	p := &Private{tb: tb, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Unreachable(tb, "postgres user (to run a private server as root)", err)
		}
		p.runAs = u.Username
	}
	// Not tb.TempDir: its parents are private to the current user.
	p.dir, err = os.MkdirTemp("", "pgtest-private-")
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(p.dir) })
	if p.runAs != "" {
		if out, err := exec.Command("chown", p.runAs, p.dir).CombinedOutput(); err != nil {
			tb.Fatalf("pgtest: chown %s: %v\n%s", p.dir, err, out)
		}
	}
	p.port, err = freePort()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	p.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	tb.Cleanup(p.kill)
	p.Start()
	return p
}

// Start starts the server and waits until it accepts connections.
func (p *Private) Start() {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' -c fsync=off -c max_connections=50", p.port)
	p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "server.log"), "-o", opts, "-w", "-t", "30", "start")
	p.running = true
}

// Stop shuts the server down (fast mode: sessions are terminated, the
// data is kept) and waits until it has stopped.
func (p *Private) Stop() {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return
	}
	p.run("pg_ctl", "-D", p.data(), "-m", "fast", "-w", "-t", "30", "stop")
	p.running = false
}

// kill stops the server at the end of the test without failing it.
func (p *Private) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		p.command("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop").Run()
		p.running = false
	}
}

func (p *Private) data() string { return filepath.Join(p.dir, "data") }

func (p *Private) run(name string, args ...string) {
	p.tb.Helper()
	if out, err := p.command(name, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		p.tb.Fatalf("pgtest: %s %v: %v\n%s\nserver log:\n%s", name, args, err, out, log)
	}
}

func (p *Private) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if p.runAs == "" {
		return exec.Command(path, args...)
	}
	return exec.Command("runuser", append([]string{"-u", p.runAs, "--", path}, args...)...)
}

// serverBinaries finds the directory holding initdb, pg_ctl and postgres:
// on the PATH, else the newest /usr/lib/postgresql/<version>/bin.
func serverBinaries() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if path, err := exec.LookPath("pg_ctl"); err == nil && has(filepath.Dir(path)) {
		return filepath.Dir(path), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb, pg_ctl and postgres not found on PATH nor in /usr/lib/postgresql/*/bin")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
