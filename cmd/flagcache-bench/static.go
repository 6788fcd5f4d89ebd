package main

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/flagcache/flagcache"
)

// The `static` baseline is a process of its own: the bench binary run as
// `flagcache-bench static` (a hidden subcommand), serving the daemon's
// response bodies from a map with a minimal net/http handler — the ceiling
// of HTTP on this machine. In its own process its CPU is read from /proc
// exactly as the daemon's is, and it does not share a Go runtime (GC,
// scheduler) with the load generator, as the daemon does not.

// staticCommand is the subcommand's name; staticRoleEnv, set to it in the
// child's environment, makes a test binary (whose os.Executable is not
// flagcache-bench) run the child too: see TestMain.
const (
	staticCommand = "static"
	staticRoleEnv = "FLAGCACHE_BENCH_ROLE"
)

// staticData is what the child serves, written by the bench to a file.
type staticData struct {
	Bodies map[string][]byte // GET /v1/flags/{id}
	ETags  map[string]string
	Pages  map[string]staticPage // GET /v1/flags?{raw query}
}

type staticPage struct {
	Body []byte
	ETag string
}

// staticProcess is a running static child.
type staticProcess struct {
	cmd   *exec.Cmd
	stdin io.Closer // closing it tells the child to exit
	addr  string
	done  chan error
}

// startStatic starts a static child serving the flags of ds and, when
// given, the list pages.
func startStatic(ctx context.Context, ds *Dataset, pages []page) (*staticProcess, error) {
	data := staticData{Bodies: make(map[string][]byte, ds.Len()), ETags: make(map[string]string, ds.Len()), Pages: map[string]staticPage{}}
	for i, id := range ds.IDs {
		data.Bodies[string(id)] = ds.Bodies[i]
		data.ETags[string(id)] = flagcache.ETag(ds.Version(i))
	}
	for _, p := range pages {
		data.Pages[p.query] = staticPage{Body: p.body, ETag: p.staticETag}
	}
	f, err := os.CreateTemp("", "flagcache-bench-static-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name()) // the child has read it once it listens
	err = gob.NewEncoder(f).Encode(&data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("static baseline: writing its data: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("static baseline: %w", err)
	}
	cmd := exec.Command(exe, staticCommand, "--data", f.Name())
	cmd.Env = append(os.Environ(), staticRoleEnv+"="+staticCommand)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("static baseline: %w", err)
	}
	p := &staticProcess{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addr <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	select {
	case p.addr = <-addr:
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
	if p.addr == "" {
		return nil, fmt.Errorf("static baseline: the child exited before listening: %v", <-p.done)
	}
	return p, nil
}

func (p *staticProcess) url() string { return "http://" + p.addr }

func (p *staticProcess) pid() int { return p.cmd.Process.Pid }

// close ends the child: EOF on its stdin, then a kill if it has not exited
// when ctx ends or after 10 s.
func (p *staticProcess) close(ctx context.Context) error {
	p.stdin.Close()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
	case <-t.C:
	}
	p.kill()
	return errors.New("static baseline: killed after it did not exit")
}

func (p *staticProcess) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// runStatic is the child: it serves the data file's bytes on a loopback
// port, prints the address on stdout, and exits when its stdin closes
// (the bench closed it, or died).
func runStatic(ctx context.Context, args []string, stdout io.Writer, stdin io.Reader) error {
	fs := flag.NewFlagSet("flagcache-bench static", flag.ContinueOnError)
	file := fs.String("data", "", "gob file of the bodies to serve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	var s staticServer
	err = gob.NewDecoder(f).Decode(&s.staticData)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: &s, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	fmt.Fprintln(stdout, ln.Addr().String())
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(gone)
	}()
	select {
	case <-gone:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// staticServer is the static child's handler: a map lookup and the bytes.
type staticServer struct{ staticData }

func (s *staticServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/flags" && r.Method == http.MethodGet {
		s.servePage(w, r)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/v1/flags/")
	body, ok := s.Bodies[id]
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("ETag", s.ETags[id])
	w.Write(body)
}

// servePage answers a list page with its bytes, or 304 when
// If-None-Match names its ETag.
func (s *staticServer) servePage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Pages[r.URL.RawQuery]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("ETag", p.ETag)
	if r.Header.Get("If-None-Match") == p.ETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(p.Body)))
	w.Write(p.Body)
}
