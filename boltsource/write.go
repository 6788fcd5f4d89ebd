package boltsource

import (
	"context"
	"time"

	"github.com/flagcache/flagcache"
)

// Create implements flagcache.Store.
func (s *Store) Create(ctx context.Context, def *flagcache.Definition) (*flagcache.Stored, error) {
	def, actor, err := flagcache.PrepareWrite(ctx, def, 0)
	if err != nil {
		return nil, err
	}
	var out *flagcache.Stored
	err = s.update(func(b buckets) error {
		prev, err := b.getRecord(def.ID)
		if err != nil {
			return err
		}
		if prev != nil && prev.live() {
			return flagcache.ErrAlreadyExists
		}
		var version int64 = 1
		if prev != nil {
			version = prev.Version + 1
		}
		now := s.now()
		def.Stamp(now, now)
		out, err = s.put(b, def, version, prev, actor, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Update implements flagcache.Store.
func (s *Store) Update(ctx context.Context, def *flagcache.Definition, expectedVersion int64) (*flagcache.Stored, error) {
	def, actor, err := flagcache.PrepareWrite(ctx, def, expectedVersion)
	if err != nil {
		return nil, err
	}
	var out *flagcache.Stored
	err = s.update(func(b buckets) error {
		prev, err := b.current(def.ID, expectedVersion)
		if err != nil {
			return err
		}
		// created_at as the flag has it (none, or not a timestamp: now).
		var old flagcache.Definition
		_ = old.UnmarshalJSON(prev.Definition)
		now := s.now()
		def.Stamp(old.Metadata.CreatedAt, now)
		out, err = s.put(b, def, prev.Version+1, prev, actor, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete implements flagcache.Store.
func (s *Store) Delete(ctx context.Context, id flagcache.ID, expectedVersion int64) (flagcache.Change, error) {
	actor, err := flagcache.PrepareDelete(ctx, id, expectedVersion)
	if err != nil {
		return flagcache.Change{}, err
	}
	var out flagcache.Change
	err = s.update(func(b buckets) error {
		prev, err := b.current(id, expectedVersion)
		if err != nil {
			return err
		}
		rev, err := b.nextRevision()
		if err != nil {
			return err
		}
		tomb := &record{Version: prev.Version + 1, Revision: rev, DeletedAt: s.now().UTC()}
		if err := b.replace(id, prev, tomb); err != nil {
			return err
		}
		if err := b.tombstones.Put(tombKey(tomb.DeletedAt, rev), []byte(id)); err != nil {
			return err
		}
		out = flagcache.Change{Revision: rev, Op: flagcache.OpDelete, ID: id, Version: tomb.Version, Actor: actor}
		return s.record(b, id, tomb.Version, historyValue{Revision: rev, Op: flagcache.OpDelete, Actor: actor, At: flagcache.Timestamp(tomb.DeletedAt)})
	})
	if err != nil {
		return flagcache.Change{}, err
	}
	return out, nil
}

// current returns the live record of id, checking expectedVersion.
func (b buckets) current(id flagcache.ID, expectedVersion int64) (*record, error) {
	r, err := b.getRecord(id)
	if err != nil {
		return nil, err
	}
	if r == nil || !r.live() {
		return nil, flagcache.ErrNotFound
	}
	if expectedVersion != 0 && expectedVersion != r.Version {
		return nil, &flagcache.VersionConflictError{ID: id, Expected: expectedVersion, Actual: r.Version}
	}
	return r, nil
}

// put writes def at version under the next revision, replacing prev (nil
// for an id never written), and its history entry by actor at now. The
// returned Stored holds def.
func (s *Store) put(b buckets, def *flagcache.Definition, version int64, prev *record, actor string, now time.Time) (*flagcache.Stored, error) {
	rev, err := b.nextRevision()
	if err != nil {
		return nil, err
	}
	raw := def.AppendJSON(nil) // the bytes Get serves
	if err := b.replace(def.ID, prev, &record{Definition: raw, Version: version, Revision: rev}); err != nil {
		return nil, err
	}
	err = s.record(b, def.ID, version, historyValue{Revision: rev, Op: flagcache.OpUpsert, Actor: actor, At: flagcache.Timestamp(now), Definition: raw})
	if err != nil {
		return nil, err
	}
	return flagcache.NewStored(def, version, rev), nil
}

// nextRevision hands out the next store-wide revision.
func (b buckets) nextRevision() (int64, error) {
	rev, err := b.counter(revisionKey)
	if err != nil {
		return 0, err
	}
	return rev + 1, b.setCounter(revisionKey, rev+1)
}

// replace stores r as the record of id in place of prev (nil for an id never
// written): prev leaves the change feed and the tombstone index, r enters
// the feed; the indexes follow.
func (b buckets) replace(id flagcache.ID, prev, r *record) error {
	if prev != nil {
		if err := b.changes.Delete(revKey(prev.Revision)); err != nil {
			return err
		}
		if !prev.live() {
			if err := b.tombstones.Delete(tombKey(prev.DeletedAt, prev.Revision)); err != nil {
				return err
			}
		}
	}
	if err := b.putRecord(id, r); err != nil {
		return err
	}
	if err := b.reindex(id, r); err != nil {
		return err
	}
	return b.changes.Put(revKey(r.Revision), []byte(id))
}
