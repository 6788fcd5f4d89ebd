// Package memstore is an in-memory flagcache.Store: the reference
// implementation of the Store contract, used in tests and by
// `flagcache serve --source memory`. Nothing survives the process.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"maps"
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
//
// It keeps each flag, and each version of its history, as the JSON it
// serves (as boltsource does), and decodes it on every read: a decoded
// definition keeps what it was decoded from (so that it encodes back
// byte for byte), in many small objects the garbage collector walks,
// where the JSON is one block it does not. Kept decoded, with a copy in
// the history, a flag of 1 KiB of JSON took 8.8 KB of heap; as JSON
// 1.9 KB (TestHeapPerFlag). What List, Count and ModifiedSince filter and
// sort on is kept beside it (fields).
type Store struct {
	now       func() time.Time
	retention time.Duration

	mu       sync.RWMutex
	entries  map[flagcache.ID]*entry
	revision int64 // last revision handed out
	horizon  int64 // revision of the newest compacted tombstone
	keep     flagcache.HistoryRetention
	history  map[flagcache.ID][]version // oldest first
}

// entry is one id: a live flag, or a tombstone when raw is nil. Tombstones
// are kept for good so a re-created flag continues above their version;
// compaction only takes them out of the change feed. A write installs a
// new entry: only compacted changes (under s.mu), so reads decode an
// entry's flag after releasing s.mu.
type entry struct {
	id        flagcache.ID
	raw       []byte // the definition as JSON, as Get decodes it
	fields    fields
	version   int64
	revision  int64
	deletedAt time.Time
	compacted bool
	actor     string
}

// fields are the members of a definition that queries read, as it
// decodes them.
type fields struct {
	name, owner          string
	status               flagcache.Status
	tags, environments   []string
	createdAt, updatedAt time.Time
}

func fieldsOf(d *flagcache.Definition) fields {
	f := fields{name: d.Name, owner: d.Metadata.Owner, status: d.Status, tags: slices.Clone(d.Metadata.Tags),
		createdAt: d.Metadata.CreatedAt, updatedAt: d.Metadata.UpdatedAt}
	if len(d.Environments) > 0 {
		f.environments = slices.Sorted(maps.Keys(d.Environments))
	}
	return f
}

// match reports whether q.Match holds for the definition f was made of.
func (f *fields) match(q flagcache.Query) bool {
	if q.Environment != "" {
		if _, found := slices.BinarySearch(f.environments, q.Environment); !found {
			return false
		}
		q.Environment = ""
	}
	// Query.Match reads nothing else of a definition than these.
	d := flagcache.Definition{Status: f.status, Metadata: flagcache.Metadata{Tags: f.tags, Owner: f.owner}}
	return q.Match(&d)
}

// compare orders entries as flagcache.CompareStored orders their flags.
func compare(a, b *entry) int {
	if c := cmp.Compare(a.fields.name, b.fields.name); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// stored decodes the flag of a live entry.
func (e *entry) stored() *flagcache.Stored {
	return flagcache.DecodeStored(e.id, e.raw, e.version, e.revision)
}

// version is one version of a flag's history: a HistoryEntry whose
// definition is kept as JSON (nil for a delete).
type version struct {
	flagcache.HistoryEntry // without Definition
	raw                    []byte
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
		keep: opts.History, history: make(map[flagcache.ID][]version)}
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
	if e == nil || e.raw == nil {
		return nil, flagcache.ErrNotFound
	}
	return e.stored(), nil
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
		if e := s.entries[id]; e != nil && e.raw != nil {
			out[id] = e.stored()
		}
	}
	return out, nil
}

// List implements flagcache.Store.
func (s *Store) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	if err := checkQuery(ctx, q); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var matched []*entry
	for _, e := range s.entries {
		if e.raw != nil && e.fields.match(q) {
			matched = append(matched, e)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(matched, compare)
	page := []*flagcache.Stored{}
	if q.Offset < len(matched) {
		matched = matched[q.Offset:]
		if q.Limit > 0 && q.Limit < len(matched) {
			matched = matched[:q.Limit]
		}
		page = make([]*flagcache.Stored, len(matched))
		for i, e := range matched {
			page[i] = e.stored()
		}
	}
	return page, nil
}

// Count implements flagcache.Store.
func (s *Store) Count(ctx context.Context, q flagcache.Query) (int, error) {
	if err := checkQuery(ctx, q); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, e := range s.entries {
		if e.raw != nil && e.fields.match(q) {
			n++
		}
	}
	return n, nil
}

func checkQuery(ctx context.Context, q flagcache.Query) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return q.Validate()
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
	if e != nil && e.raw != nil {
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
	def.Stamp(e.fields.createdAt, now)
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
	s.entries[id] = &entry{id: id, version: e.version + 1, revision: s.revision, deletedAt: now, actor: actor}
	s.record(id, version{HistoryEntry: flagcache.HistoryEntry{Version: e.version + 1, Revision: s.revision, Op: flagcache.OpDelete, Actor: actor, At: flagcache.Timestamp(now)}})
	return flagcache.Change{Revision: s.revision, Op: flagcache.OpDelete, ID: id, Version: e.version + 1, Actor: actor}, nil
}

// current returns the live entry of id, checking expectedVersion.
// s.mu must be held.
func (s *Store) current(id flagcache.ID, expectedVersion int64) (*entry, error) {
	e := s.entries[id]
	if e == nil || e.raw == nil {
		return nil, flagcache.ErrNotFound
	}
	if expectedVersion != 0 && expectedVersion != e.version {
		return nil, &flagcache.VersionConflictError{ID: id, Expected: expectedVersion, Actual: e.version}
	}
	return e, nil
}

// put installs def at version under the next revision, by actor at now.
// s.mu must be held.
// The entry and the history share the JSON (neither modifies it); def,
// PrepareWrite's copy, is not kept.
func (s *Store) put(def *flagcache.Definition, v int64, actor string, now time.Time) *flagcache.Stored {
	s.revision++
	raw := def.AppendJSON(nil)
	s.entries[def.ID] = &entry{id: def.ID, raw: raw, fields: fieldsOf(def), version: v, revision: s.revision, actor: actor}
	s.record(def.ID, version{HistoryEntry: flagcache.HistoryEntry{Version: v, Revision: s.revision, Op: flagcache.OpUpsert, Actor: actor, At: flagcache.Timestamp(now)}, raw: raw})
	return flagcache.NewStored(def, v, s.revision)
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
	var v int64 = 1
	if e := s.entries[id]; e != nil {
		v = e.version + 1
	}
	s.revision++
	e := &entry{id: id, raw: bytes.Clone(raw), version: v, revision: s.revision}
	e.fields = fieldsOf(e.stored().Definition)
	s.entries[id] = e
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
	var modified []*entry
	for _, e := range s.entries {
		if e.raw != nil && e.fields.updatedAt.After(t) {
			modified = append(modified, e)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(modified, func(a, b *entry) int {
		if c := a.fields.updatedAt.Compare(b.fields.updatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	var out []*flagcache.Stored
	for _, e := range modified {
		out = append(out, e.stored())
	}
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
	if after > s.revision || (after > 0 && after < s.horizon) {
		s.mu.RUnlock()
		return nil, flagcache.ErrResyncNeeded
	}
	revision := s.revision
	var changed []*entry
	for _, e := range s.entries {
		if e.revision > after && !e.compacted {
			changed = append(changed, e)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(changed, func(a, b *entry) int { return cmp.Compare(a.revision, b.revision) })
	if limit > 0 && len(changed) > limit {
		changed = changed[:limit]
	}
	feed := &flagcache.ChangeFeed{Changes: make([]flagcache.Change, len(changed)), Revision: revision}
	for i, e := range changed {
		c := flagcache.Change{Revision: e.revision, Op: flagcache.OpDelete, ID: e.id, Version: e.version, Actor: e.actor}
		if e.raw != nil {
			c.Op, c.Flag = flagcache.OpUpsert, e.stored()
		}
		feed.Changes[i] = c
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
		if e.raw == nil && !e.compacted && e.deletedAt.Before(before) {
			s.horizon = max(s.horizon, e.revision)
			e.compacted = true
		}
	}
}
