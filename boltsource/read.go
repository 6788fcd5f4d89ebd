package boltsource

import (
	"context"
	"slices"

	"github.com/flagcache/flagcache"
)

// Get implements flagcache.Store.
func (s *Store) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	var out *flagcache.Stored
	err := s.view(func(b buckets) (err error) {
		out, err = b.liveFlag(id)
		return err
	})
	if err == nil && out == nil {
		err = flagcache.ErrNotFound
	}
	return out, err
}

// GetMany implements flagcache.Store.
func (s *Store) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.ValidateIDs(ids); err != nil {
		return nil, err
	}
	out := make(map[flagcache.ID]*flagcache.Stored, len(ids))
	err := s.view(func(b buckets) error {
		for _, id := range ids {
			if _, seen := out[id]; seen {
				continue
			}
			f, err := b.liveFlag(id)
			if err != nil {
				return err
			}
			if f != nil {
				out[id] = f
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Exists implements flagcache.Store.
func (s *Store) Exists(ctx context.Context, id flagcache.ID) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := id.Validate(); err != nil {
		return false, err
	}
	var found bool
	err := s.view(func(b buckets) error {
		r, err := b.getRecord(id)
		found = r != nil && r.live()
		return err
	})
	return found, err
}

// List implements flagcache.Store.
func (s *Store) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	if err := checkQuery(ctx, q); err != nil {
		return nil, err
	}
	var page []*flagcache.Stored
	err := s.view(func(b buckets) error {
		indexed, ok, err := b.indexedList(q)
		if ok || err != nil {
			page = indexed
			return err
		}
		matched, records, err := b.scan(q.Match)
		if err != nil {
			return err
		}
		slices.SortFunc(matched, flagcache.CompareStored)
		page = q.Page(matched)
		return decodeAll(page, records)
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// Count implements flagcache.Store.
func (s *Store) Count(ctx context.Context, q flagcache.Query) (int, error) {
	if err := checkQuery(ctx, q); err != nil {
		return 0, err
	}
	var n int
	err := s.view(func(b buckets) error {
		indexed, ok, err := b.indexedCount(q)
		if ok || err != nil {
			n = indexed
			return err
		}
		matched, _, err := b.scan(q.Match)
		n = len(matched)
		return err
	})
	return n, err
}

func checkQuery(ctx context.Context, q flagcache.Query) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return q.Validate()
}

// scan returns the live flags whose summary (see record.summary) keep
// accepts, with the summary as their definition, and their records by id,
// so that only the flags returned pay for a full decode (decodeAll, in the
// same transaction).
func (b buckets) scan(keep func(*flagcache.Definition) bool) ([]*flagcache.Stored, map[flagcache.ID]*record, error) {
	var out []*flagcache.Stored
	records := make(map[flagcache.ID]*record)
	err := b.flags.ForEach(func(k, v []byte) error {
		id := flagcache.ID(k)
		r, err := decodeRecord(id, v)
		if err != nil || !r.live() {
			return err
		}
		d, err := r.summary(id)
		if err != nil || !keep(d) {
			return err
		}
		out = append(out, flagcache.NewStored(d, r.Version, r.Revision))
		records[id] = r
		return nil
	})
	return out, records, err
}

// decodeAll replaces the summary definitions of flags with full ones.
func decodeAll(flags []*flagcache.Stored, records map[flagcache.ID]*record) error {
	for i, f := range flags {
		full, err := records[f.Definition.ID].stored(f.Definition.ID)
		if err != nil {
			return err
		}
		flags[i] = full
	}
	return nil
}
