// Package redistest starts private redis-server processes for tests that
// must stop, restart or disconnect Redis without disturbing anyone else:
// each server listens on a free loopback port, keeps its data (when asked)
// in the test's temporary directory, and is killed when the test ends.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache/internal/testenv"
)

// Server is a private redis-server.
type Server struct {
	Addr    string
	tb      testing.TB
	args    []string
	cmd     *exec.Cmd
	stopped bool
}

// Options for Start.
type Options struct {
	// Persist keeps data across Restart (append-only file, fsync always).
	Persist bool
}

// Start runs redis-server on a free loopback port. Without the binary it
// stops the test through testenv.Unreachable.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unreachable(tb, "redis-server binary", err)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), tb: tb}
	s.args = []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "",
		"--dir", tb.TempDir(), "--daemonize", "no", "--loglevel", "warning"}
	if opts.Persist {
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		s.args = append(s.args, "--appendonly", "no")
	}
	s.args = append([]string{bin}, s.args...)
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: start: %v", err)
	}
	s.stopped = false
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redistest: redis-server on %s did not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: no goodbye to clients) and waits for it.
func (s *Server) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// Restart starts the server again on the same port (with its data when
// Persist was set).
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// Client returns a client with short timeouts, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(FastOptions(s.Addr))
	s.tb.Cleanup(func() { c.Close() })
	return c
}

// FastOptions are client options for a cache that must fail fast: short
// dial/read/write/pool timeouts, no retries, context deadlines honoured.
func FastOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		DialTimeout:           100 * time.Millisecond,
		ReadTimeout:           100 * time.Millisecond,
		WriteTimeout:          100 * time.Millisecond,
		PoolTimeout:           100 * time.Millisecond,
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
		DialerRetries:         1,
	}
}

// conformanceOptions are the timeouts of a client that runs the
// conformance suite: a failed node still fails a call within a second, but
// eight workers queueing for a connection on a loaded 2-core CI machine do
// not (TestSentinel/Concurrency/RacingCAS failed with 100 ms under load 30).
func conformanceOptions() *redis.Options {
	return &redis.Options{
		DialTimeout:  time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		PoolTimeout:  time.Second,
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
