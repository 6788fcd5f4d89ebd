package boltsource

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/flagcache/flagcache"
)

var (
	_ flagcache.Store         = (*Store)(nil)
	_ flagcache.Compactor     = (*Store)(nil)
	_ flagcache.HistoryReader = (*Store)(nil)
)

// ErrLocked is returned by Open when another Store holds the file.
var ErrLocked = errors.New("boltsource: database file is locked by another process")

// errCorrupt marks a record or meta value that does not decode.
var errCorrupt = errors.New("boltsource: corrupt database")

// DefaultTimeout is how long Open waits for the file lock by default.
const DefaultTimeout = time.Second

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Now is the clock for timestamps and retention; default time.Now.
	Now func() time.Time
	// Retention is how long delete tombstones stay in the change feed;
	// default flagcache.DefaultChangeRetention.
	Retention time.Duration
	// Timeout is how long Open waits for the exclusive file lock before
	// failing with ErrLocked; default DefaultTimeout (1s).
	Timeout time.Duration
	// History bounds the history kept of each flag; default everything.
	History flagcache.HistoryRetention
}

// Store is a flagcache.Store in a bbolt file, safe for concurrent use.
type Store struct {
	db        *bolt.DB
	now       func() time.Time
	retention time.Duration
	keep      flagcache.HistoryRetention
	noHistory bool // benchmarks only: the cost of history
}

// Open opens the store in the file at path, creating it (mode 0600) if it
// does not exist. It fails with an error matching ErrLocked if another Store
// keeps the file open for longer than opts.Timeout.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retention <= 0 {
		opts.Retention = flagcache.DefaultChangeRetention
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (no lock within %s)", ErrLocked, path, opts.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltsource: open %s: %w", path, err)
	}
	if err := db.Update(initialize); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltsource: open %s: %w", path, err)
	}
	if err := ensureIndex(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltsource: open %s: %w", path, err)
	}
	return &Store{db: db, now: opts.Now, retention: opts.Retention, keep: opts.History}, nil
}

// Close releases the file. Calls after Close fail with ErrUnavailable.
func (s *Store) Close() error {
	return s.db.Close()
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(b buckets) error) error {
	return translate(s.db.View(func(tx *bolt.Tx) error { return fn(open(tx)) }))
}

// update runs fn in a read-write transaction, committed if fn succeeds.
func (s *Store) update(fn func(b buckets) error) error {
	return translate(s.db.Update(func(tx *bolt.Tx) error { return fn(open(tx)) }))
}

// translate passes the store's own errors through and wraps bbolt's, so no
// driver error reaches the caller unwrapped.
func translate(err error) error {
	for _, known := range []error{
		flagcache.ErrNotFound, flagcache.ErrAlreadyExists, flagcache.ErrVersionConflict,
		flagcache.ErrInvalidArgument, flagcache.ErrResyncNeeded, errCorrupt,
	} {
		if errors.Is(err, known) {
			return err
		}
	}
	return flagcache.Unavailable(err)
}
