package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (the kernel fixes it for
// user space whatever its internal HZ).
const clockTicks = 100

// ProcStats is what /proc tells of a process.
type ProcStats struct {
	RSS     int64         // resident set size, bytes (VmRSS)
	RSSAnon int64         // its anonymous part, bytes (RssAnon: the heap, not mapped files)
	CPU     time.Duration // user + system CPU time since the process started
}

// ReadProc reads the RSS and CPU time of process pid from /proc.
func ReadProc(pid int) (ProcStats, error) {
	var st ProcStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	found := false
	for line := range strings.SplitSeq(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "VmRSS":
			st.RSS, err = kilobytes(value)
			found = true
		case "RssAnon":
			st.RSSAnon, err = kilobytes(value)
		}
		if err != nil {
			return st, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
	}
	if !found {
		return st, fmt.Errorf("/proc/%d/status has no VmRSS (a zombie?)", pid)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// The command name, field 2, is in parentheses and may hold spaces or
	// parentheses itself: the fields that follow start after the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return st, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: %d fields after the name, want at least 13", pid, len(fields))
	}
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return st, fmt.Errorf("/proc/%d/stat: CPU time %q: %w", pid, f, err)
		}
		ticks += n
	}
	st.CPU = time.Duration(ticks) * time.Second / clockTicks
	return st, nil
}

func kilobytes(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n << 10, err
}

// LoopbackPort returns the port of rawURL when its host is a loopback
// address (or localhost): a daemon this machine runs.
func LoopbackPort(rawURL string) (int, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, false
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ip := net.ParseIP(host)
	if !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return 0, false
	}
	n, err := strconv.Atoi(port)
	return n, err == nil
}

// FindListener returns the process listening on TCP port (any local
// address, IPv4 or IPv6): the socket inodes in LISTEN state on that port in
// /proc/net/tcp{,6}, matched against the sockets open in /proc/*/fd. It
// sees the processes of this network namespace whose fds it may read.
func FindListener(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listenInodes(f, port, inodes); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket listens on port %d in this network namespace", port)
	}
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	for _, dir := range procs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(dir + "/fd")
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(dir + "/fd/" + fd.Name())
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("port %d is listening, but no process whose fds are readable holds the socket", port)
}

// listenInodes adds to inodes those of the sockets in file (the format of
// /proc/net/tcp) that listen on port.
func listenInodes(file string, port int, inodes map[string]bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A = TCP_LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			inodes[fields[9]] = true
		}
	}
	return sc.Err()
}
