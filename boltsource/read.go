package boltsource

import (
	"cmp"
	"context"
	"slices"
	"time"

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
	matched, err := s.match(ctx, q)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(matched, flagcache.CompareStored)
	return q.Page(matched), nil
}

// Count implements flagcache.Store.
func (s *Store) Count(ctx context.Context, q flagcache.Query) (int, error) {
	matched, err := s.match(ctx, q)
	return len(matched), err
}

// match returns the live flags passing q's filters, unordered.
func (s *Store) match(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var out []*flagcache.Stored
	err := s.scan(func(f *flagcache.Stored) {
		if q.Match(f.Definition) {
			out = append(out, f)
		}
	})
	return out, err
}

// ModifiedSince implements flagcache.Store.
func (s *Store) ModifiedSince(ctx context.Context, t time.Time) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*flagcache.Stored
	err := s.scan(func(f *flagcache.Stored) {
		if f.Definition.Metadata.UpdatedAt.After(t) {
			out = append(out, f)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *flagcache.Stored) int {
		if c := a.Definition.Metadata.UpdatedAt.Compare(b.Definition.Metadata.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Definition.ID, b.Definition.ID)
	})
	return out, nil
}

// scan calls fn with every live flag, in id order.
func (s *Store) scan(fn func(*flagcache.Stored)) error {
	return s.view(func(b buckets) error {
		return b.flags.ForEach(func(k, v []byte) error {
			id := flagcache.ID(k)
			r, err := decodeRecord(id, v)
			if err != nil || !r.live() {
				return err
			}
			f, err := r.stored(id)
			if err != nil {
				return err
			}
			fn(f)
			return nil
		})
	})
}
