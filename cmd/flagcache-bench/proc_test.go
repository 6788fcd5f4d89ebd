package main

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestReadProc(t *testing.T) {
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSS < 1<<20 || before.RSS > 64<<30 {
		t.Errorf("RSS: got %d bytes, want something between 1 MiB and 64 GiB", before.RSS)
	}
	if before.RSSAnon <= 0 || before.RSSAnon > before.RSS {
		t.Errorf("RssAnon: got %d bytes, want in (0, RSS = %d]", before.RSSAnon, before.RSS)
	}
	// Burn CPU until the kernel's own account (getrusage) shows 300ms more.
	start := rusageCPU(t)
	x := 0
	for rusageCPU(t)-start < 300*time.Millisecond {
		for i := range 1_000_000 {
			x += i
		}
	}
	_ = x
	after, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ref := rusageCPU(t)
	if got := after.CPU - before.CPU; got < 250*time.Millisecond {
		t.Errorf("CPU after burning 300ms: got %v more, want at least 250ms", got)
	}
	// /proc counts in 10ms ticks; getrusage is finer.
	if diff := ref - after.CPU; diff < -20*time.Millisecond || diff > 100*time.Millisecond {
		t.Errorf("CPU: got %v from /proc, getrusage says %v", after.CPU, ref)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Errorf("ReadProc(-1): got no error")
	}
}

func rusageCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestFindListener(t *testing.T) {
	for _, network := range []struct{ name, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(network.name, func(t *testing.T) {
			ln, err := net.Listen(network.name, network.addr)
			if err != nil {
				t.Skipf("no %s loopback here: %v", network.name, err)
			}
			defer ln.Close()
			port := ln.Addr().(*net.TCPAddr).Port
			pid, err := FindListener(port)
			if err != nil {
				t.Fatal(err)
			}
			if pid != os.Getpid() {
				t.Errorf("FindListener(%d): got pid %d, want this test's %d", port, pid, os.Getpid())
			}
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if pid, err := FindListener(port); err == nil {
		t.Errorf("FindListener of a closed port: got pid %d, want an error", pid)
	}
}

func TestLoopbackPort(t *testing.T) {
	tests := []struct {
		url  string
		port int
		ok   bool
	}{
		{"http://127.0.0.1:8080", 8080, true},
		{"http://localhost:9000/prefix", 9000, true},
		{"http://[::1]:7000", 7000, true},
		{"http://127.0.0.1", 80, true},
		{"http://10.0.0.5:8080", 0, false},
		{"http://flagcache.internal:8080", 0, false},
		{"::bad", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			port, ok := LoopbackPort(tt.url)
			if port != tt.port || ok != tt.ok {
				t.Errorf("got %d, %v; want %d, %v", port, ok, tt.port, tt.ok)
			}
		})
	}
}
