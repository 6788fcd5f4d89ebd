package tiered

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/flagcache/flagcache"
)

// A snapshot is the LRU's flags on local disk, so that a sidecar restarted
// while the source and Redis are both down still has something to serve.
// It is one JSON document:
//
//	{"format":1,"revision":R,"written_at":"…","flags":[<Stored>,…]}
//
// R is the applied revision when it was taken. New loads it before its
// first repair; its flags are served stale-marked, and their versions are
// announced (no older copy from Redis is served meanwhile). No fill is
// cached until the source answers; then the store takes a baseline from
// the whole change feed, which replaces the snapshot's flags — so nothing
// from the snapshot outlives the first look at the feed, and nothing older
// than the source's versions is served after it.
type snapshotFile struct {
	Format    int               `json:"format"`
	Revision  int64             `json:"revision"`
	WrittenAt time.Time         `json:"written_at"`
	Flags     []json.RawMessage `json:"flags"`
}

const snapshotFormat = 1

// loadSnapshot installs the flags of the snapshot at Options.SnapshotPath,
// if there is one. A missing file is no snapshot; an unreadable one is
// logged and ignored: the snapshot is a convenience, never a reason not to
// start.
func (s *Store) loadSnapshot() {
	path := s.opts.SnapshotPath
	if path == "" {
		return
	}
	snap, err := readSnapshot(path, s.opts.SnapshotMaxBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		s.log.Warn("tiered: snapshot ignored", "path", path, "err", err)
		return
	}
	tok := s.lru.Begin()
	n := 0
	for _, raw := range snap.Flags {
		var st flagcache.Stored
		if err := json.Unmarshal(raw, &st); err != nil || st.Definition.ID.Validate() != nil || st.Version < 1 {
			continue
		}
		id := st.Definition.ID
		s.lru.Announce(id, st.Version, st.Revision)
		e := s.newEntry(&st)
		e.unchecked = true
		if s.lru.Install(tok, id, e) {
			n++
		}
	}
	s.obs.snapshotLoaded.Store(int64(n))
	s.log.Info("tiered: snapshot loaded; its flags are served as stale until the source answers",
		"path", path, "flags", n, "revision", snap.Revision, "written_at", snap.WrittenAt)
}

func readSnapshot(path string, maxBytes int) (*snapshotFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > int64(maxBytes)+64<<10 {
		return nil, fmt.Errorf("%d bytes, more than snapshot_max_bytes (%d)", fi.Size(), maxBytes)
	}
	var snap snapshotFile
	if err := json.NewDecoder(f).Decode(&snap); err != nil {
		return nil, err
	}
	if snap.Format != snapshotFormat {
		return nil, fmt.Errorf("format %d, want %d", snap.Format, snapshotFormat)
	}
	return &snap, nil
}

// snapshotLoop writes a snapshot every SnapshotInterval while there is
// news (a new applied revision, or a different number of cached flags),
// and once more at Close.
func (s *Store) snapshotLoop() {
	defer s.sync.wg.Done()
	t := time.NewTicker(s.opts.SnapshotInterval)
	defer t.Stop()
	var last struct {
		rev int64
		n   int
	}
	last.rev = -1
	for {
		select {
		case <-s.sync.stop:
			s.writeSnapshot()
			return
		case <-t.C:
		}
		rev, n := s.sync.appliedRevision(), s.lru.Len()
		if rev < 0 || (rev == last.rev && n == last.n) {
			continue
		}
		if s.writeSnapshot() {
			last.rev, last.n = rev, n
		}
	}
}

// writeSnapshot writes the LRU's flags to SnapshotPath, replacing the old
// snapshot by an atomic rename, and reports whether it did. Only a store
// with a baseline writes one: a store still serving an unchecked snapshot
// leaves it as it is. Flags past SnapshotMaxBytes are left out.
func (s *Store) writeSnapshot() bool {
	rev := s.sync.appliedRevision()
	if rev < 0 {
		return false
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"format":%d,"revision":%d,"written_at":%q,"flags":[`, snapshotFormat, rev, time.Now().UTC().Format(time.RFC3339Nano))
	n := 0
	s.lru.Each(func(_ flagcache.ID, e *entry) bool {
		if e.negative() || e.unchecked {
			return true
		}
		if buf.Len()+len(e.body)+3 > s.opts.SnapshotMaxBytes {
			return false
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e.body)
		n++
		return true
	})
	buf.WriteString("]}\n")
	if err := writeFileAtomic(s.opts.SnapshotPath, buf.Bytes()); err != nil {
		s.log.Warn("tiered: snapshot not written", "path", s.opts.SnapshotPath, "err", err)
		return false
	}
	s.obs.snapshotWrites.Add(1)
	return true
}

// writeFileAtomic writes data to a temporary file beside path, syncs it
// and renames it over path: a reader (or a crash) sees the old file or
// the new one, never half of one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
