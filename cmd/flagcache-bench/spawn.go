package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spawner starts flagcache daemons as child processes of the bench:
// `flagcache serve` of the binary at Path, so what is measured is the daemon users run, in a
// process of its own whose RSS and CPU /proc reports alone.
type Spawner struct {
	// Path is the flagcache binary. Required.
	Path string
	// Config is the config file the daemons under test read (--config);
	// "" runs them on the defaults (the embedded store).
	Config string
	// Env is the environment the daemons start from (FLAGCACHE_*
	// variables configure them as they would `flagcache serve`). Nil:
	// the bench's own.
	Env []string
}

// Daemon is a daemon the bench started.
type Daemon struct {
	URL string
	PID int

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // of cmd.Wait, once exited is closed
	mu     sync.Mutex
	tail   []string // the last lines it logged
}

// childOptions says how to start one daemon.
type childOptions struct {
	config  string            // --config, "" for none
	dataDir string            // --data-dir
	env     map[string]string // set on top of the environment
	unset   []string          // variables removed from the environment
}

// environ returns the spawner's environment with o's changes.
func (s *Spawner) environ(o childOptions) []string {
	base := s.Env
	if base == nil {
		base = os.Environ()
	}
	var out []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := o.env[k]; !set && !slices.Contains(o.unset, k) {
			out = append(out, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.env)) {
		out = append(out, k+"="+o.env[k])
	}
	return out
}

// run runs a one-shot subcommand (migrate) to completion.
func (s *Spawner) run(ctx context.Context, o childOptions, args ...string) error {
	if o.config != "" {
		args = append(args, "--config", o.config)
	}
	cmd := exec.CommandContext(ctx, s.Path, args...)
	cmd.Env = s.environ(o)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("flagcache %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// start runs `flagcache serve` on a free loopback port and returns once it
// listens.
func (s *Spawner) start(ctx context.Context, o childOptions) (*Daemon, error) {
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", o.dataDir, "--log-format", "json", "--log-level", "info"}
	if o.config != "" {
		args = append(args, "--config", o.config)
	}
	cmd := exec.Command(s.Path, args...)
	cmd.Env = s.environ(o)
	// The daemon must not outlive a bench that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.Path, err)
	}
	d := &Daemon{PID: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		d.readLog(stderr, addr)
	}()
	go func() {
		<-logged // Wait closes the pipe: read it all first
		d.err = cmd.Wait()
		close(d.exited)
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case a := <-addr:
		d.URL = "http://" + a
		return d, nil
	case <-d.exited:
		return nil, fmt.Errorf("the daemon exited before listening (%v):\n%s", d.err, d.log())
	case <-timer.C:
		err = errors.New("the daemon did not listen within 30s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	d.Stop()
	return nil, fmt.Errorf("%w:\n%s", err, d.log())
}

// readLog keeps the last lines of the daemon's log and sends the address
// of its "listening" line.
func (d *Daemon) readLog(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && line.Addr != "" {
			select {
			case addr <- line.Addr:
			default:
			}
		}
		d.mu.Lock()
		d.tail = append(d.tail, sc.Text())
		if len(d.tail) > 20 {
			d.tail = d.tail[1:]
		}
		d.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

func (d *Daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.tail, "\n")
}

// Stop ends the daemon with SIGTERM (its graceful shutdown), or SIGKILL
// after 20s, and reports a failed exit.
func (d *Daemon) Stop() error {
	select {
	case <-d.exited:
		return d.exitError()
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return d.exitError()
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("daemon %d did not stop within 20s of SIGTERM; killed", d.PID)
	}
}

func (d *Daemon) exitError() error {
	if d.err != nil {
		return fmt.Errorf("daemon %d: %w:\n%s", d.PID, d.err, d.log())
	}
	return nil
}
