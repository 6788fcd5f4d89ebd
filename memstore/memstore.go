// Package memstore is an in-memory flagcache.Store: the reference
// implementation of the Store contract, used in tests and by
// `flagcache serve --source memory`. Nothing survives the process.
package memstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/flagcache/flagcache"
)

var (
	_ flagcache.Store         = (*Store)(nil)
	_ flagcache.Compactor     = (*Store)(nil)
	_ flagcache.HistoryReader = (*Store)(nil)
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Now is the clock for timestamps and retention; default time.Now.
	Now func() time.Time
	// Retention is how long delete tombstones stay in the change feed;
	// default flagcache.DefaultChangeRetention.
	Retention time.Duration
	// History bounds the history kept of each flag; default everything.
	History flagcache.HistoryRetention
}

// Store is an in-memory flagcache.Store, safe for concurrent use.
type Store struct {
	now       func() time.Time
	retention time.Duration

	mu       sync.RWMutex
	entries  map[flagcache.ID]*entry
	revision int64 // last revision handed out
	horizon  int64 // revision of the newest compacted tombstone
	keep     flagcache.HistoryRetention
	history  map[flagcache.ID][]flagcache.HistoryEntry // oldest first
}

// entry is one id: a live flag, or a tombstone when flag is nil. Tombstones
// are kept for good so a re-created flag continues above their version;
// compaction only takes them out of the change feed.
type entry struct {
	flag      *flagcache.Stored
	version   int64
	revision  int64
	deletedAt time.Time
	compacted bool
	actor     string
}

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retention <= 0 {
		opts.Retention = flagcache.DefaultChangeRetention
	}
	return &Store{now: opts.Now, retention: opts.Retention, entries: make(map[flagcache.ID]*entry),
		keep: opts.History, history: make(map[flagcache.ID][]flagcache.HistoryEntry)}
}

func clone(s *flagcache.Stored) *flagcache.Stored {
	c := *s
	c.Definition = s.Definition.Clone()
	return &c
}

// Get implements flagcache.Store.
func (s *Store) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.entries[id]
	if e == nil || e.flag == nil {
		return nil, flagcache.ErrNotFound
	}
	return clone(e.flag), nil
}

// GetMany implements flagcache.Store.
func (s *Store) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.ValidateIDs(ids); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[flagcache.ID]*flagcache.Stored, len(ids))
	for _, id := range ids {
		if e := s.entries[id]; e != nil && e.flag != nil {
			out[id] = clone(e.flag)
		}
	}
	return out, nil
}

// List implements flagcache.Store.
func (s *Store) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	matched, err := s.match(ctx, q)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(matched, flagcache.CompareStored)
	page := q.Page(matched)
	for i, f := range page {
		page[i] = clone(f)
	}
	return page, nil
}

// Count implements flagcache.Store.
func (s *Store) Count(ctx context.Context, q flagcache.Query) (int, error) {
	matched, err := s.match(ctx, q)
	return len(matched), err
}

func (s *Store) match(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*flagcache.Stored
	for _, e := range s.entries {
		if e.flag != nil && q.Match(e.flag.Definition) {
			out = append(out, e.flag)
		}
	}
	return out, nil
}

// Create implements flagcache.Store.
func (s *Store) Create(ctx context.Context, def *flagcache.Definition) (*flagcache.Stored, error) {
	def, actor, err := flagcache.PrepareWrite(ctx, def, 0)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[def.ID]
	if e != nil && e.flag != nil {
		return nil, flagcache.ErrAlreadyExists
	}
	var version int64 = 1
	if e != nil {
		version = e.version + 1
	}
	now := s.now()
	def.Stamp(now, now)
	return s.put(def, version, actor, now), nil
}

// Update implements flagcache.Store.
func (s *Store) Update(ctx context.Context, def *flagcache.Definition, expectedVersion int64) (*flagcache.Stored, error) {
	def, actor, err := flagcache.PrepareWrite(ctx, def, expectedVersion)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.current(def.ID, expectedVersion)
	if err != nil {
		return nil, err
	}
	now := s.now()
	def.Stamp(e.flag.Definition.Metadata.CreatedAt, now)
	return s.put(def, e.version+1, actor, now), nil
}

// Delete implements flagcache.Store.
func (s *Store) Delete(ctx context.Context, id flagcache.ID, expectedVersion int64) (flagcache.Change, error) {
	actor, err := flagcache.PrepareDelete(ctx, id, expectedVersion)
	if err != nil {
		return flagcache.Change{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.current(id, expectedVersion)
	if err != nil {
		return flagcache.Change{}, err
	}
	s.revision++
	now := s.now()
	s.entries[id] = &entry{version: e.version + 1, revision: s.revision, deletedAt: now, actor: actor}
	s.record(id, flagcache.HistoryEntry{Version: e.version + 1, Revision: s.revision, Op: flagcache.OpDelete, Actor: actor, At: flagcache.Timestamp(now)})
	return flagcache.Change{Revision: s.revision, Op: flagcache.OpDelete, ID: id, Version: e.version + 1, Actor: actor}, nil
}

// current returns the live entry of id, checking expectedVersion.
// s.mu must be held.
func (s *Store) current(id flagcache.ID, expectedVersion int64) (*entry, error) {
	e := s.entries[id]
	if e == nil || e.flag == nil {
		return nil, flagcache.ErrNotFound
	}
	if expectedVersion != 0 && expectedVersion != e.version {
		return nil, &flagcache.VersionConflictError{ID: id, Expected: expectedVersion, Actual: e.version}
	}
	return e, nil
}

// put installs def at version under the next revision, by actor at now.
// s.mu must be held.
func (s *Store) put(def *flagcache.Definition, version int64, actor string, now time.Time) *flagcache.Stored {
	s.revision++
	stored := flagcache.NewStored(def, version, s.revision)
	s.entries[def.ID] = &entry{flag: stored, version: version, revision: s.revision, actor: actor}
	s.record(def.ID, flagcache.HistoryEntry{Version: version, Revision: s.revision, Op: flagcache.OpUpsert, Actor: actor, At: flagcache.Timestamp(now), Definition: def.Clone()})
	return clone(stored)
}

// WriteRaw stores raw as the next version of id the way another writer
// sharing the store would: unvalidated, with no timestamps set, served as
// stored (flagcache.DecodeStored). It is the raw-write hook of the
// conformance suite (storetest.RawWriter) and of tests of rows flagcache
// does not model.
func (s *Store) WriteRaw(ctx context.Context, id flagcache.ID, raw []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := id.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var version int64 = 1
	if e := s.entries[id]; e != nil {
		version = e.version + 1
	}
	s.revision++
	stored := flagcache.DecodeStored(id, raw, version, s.revision)
	s.entries[id] = &entry{flag: stored, version: version, revision: s.revision}
	return nil
}

// Exists implements flagcache.Store.
func (s *Store) Exists(ctx context.Context, id flagcache.ID) (bool, error) {
	_, err := s.Get(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, flagcache.ErrNotFound):
		return false, nil
	}
	return false, err
}

// ModifiedSince implements flagcache.Store.
func (s *Store) ModifiedSince(ctx context.Context, t time.Time) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []*flagcache.Stored
	for _, e := range s.entries {
		if e.flag != nil && e.flag.Definition.Metadata.UpdatedAt.After(t) {
			out = append(out, clone(e.flag))
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *flagcache.Stored) int {
		if c := a.Definition.Metadata.UpdatedAt.Compare(b.Definition.Metadata.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Definition.ID, b.Definition.ID)
	})
	return out, nil
}

// Changes implements flagcache.Store.
func (s *Store) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckCursor(after, limit); err != nil {
		return nil, err
	}
	s.compact(s.now().Add(-s.retention))
	s.mu.RLock()
	defer s.mu.RUnlock()
	if after > s.revision || (after > 0 && after < s.horizon) {
		return nil, flagcache.ErrResyncNeeded
	}
	feed := &flagcache.ChangeFeed{Changes: []flagcache.Change{}, Revision: s.revision}
	for id, e := range s.entries {
		if e.revision <= after || e.compacted {
			continue
		}
		c := flagcache.Change{Revision: e.revision, Op: flagcache.OpDelete, ID: id, Version: e.version, Actor: e.actor}
		if e.flag != nil {
			c.Op, c.Flag = flagcache.OpUpsert, clone(e.flag)
		}
		feed.Changes = append(feed.Changes, c)
	}
	slices.SortFunc(feed.Changes, func(a, b flagcache.Change) int { return cmp.Compare(a.Revision, b.Revision) })
	if limit > 0 && len(feed.Changes) > limit {
		feed.Changes = feed.Changes[:limit]
	}
	return feed, nil
}

// Compact implements flagcache.Compactor.
func (s *Store) Compact(ctx context.Context, before time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.compact(before)
	return nil
}

func (s *Store) compact(before time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.flag == nil && !e.compacted && e.deletedAt.Before(before) {
			s.horizon = max(s.horizon, e.revision)
			e.compacted = true
		}
	}
}
