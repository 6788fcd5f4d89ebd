package redistest

import (
	"net"
	"os"
	"path/filepath"
)

// dir is the server's working directory (its --dir), where SAVE writes
// dump.rdb and from where a restart loads it.
func (s *Server) dir() string {
	for i, a := range s.args {
		if a == "--dir" && i+1 < len(s.args) {
			return s.args[i+1]
		}
	}
	s.tb.Fatal("redistest: server has no --dir")
	return ""
}

// Snapshot runs SAVE and copies the RDB file it wrote to path: a snapshot
// to restart from later with RestartFrom.
func (s *Server) Snapshot(path string) error {
	if err := rawDo(s.Addr, "SAVE"); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(s.dir(), "dump.rdb"))
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// RestartFrom SIGKILLs the server and starts it again on the same port
// with the data of an earlier Snapshot (on a server without Persist: no
// append-only file overrides the RDB), as after a crash and a restore of
// an old backup.
func (s *Server) RestartFrom(snapshot string) {
	s.tb.Helper()
	s.Stop()
	b, err := os.ReadFile(snapshot)
	if err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir(), "dump.rdb"), b, 0o644); err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
	s.start()
}

// ReplicaOf makes the server a replica of addr (REPLICAOF host port).
func (s *Server) ReplicaOf(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	return rawDo(s.Addr, "REPLICAOF", host, port)
}

// Promote makes a replica a primary (REPLICAOF NO ONE), with the data it
// has, however far it lags.
func (s *Server) Promote() error {
	return rawDo(s.Addr, "REPLICAOF", "NO", "ONE")
}

// Do runs one command on the server.
func (s *Server) Do(args ...any) error {
	return rawDo(s.Addr, args...)
}
