package boltsource

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"github.com/flagcache/flagcache"
)

// Changes implements flagcache.Store.
func (s *Store) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckCursor(after, limit); err != nil {
		return nil, err
	}
	if err := s.expire(s.now().Add(-s.retention)); err != nil {
		return nil, err
	}
	feed := &flagcache.ChangeFeed{Changes: []flagcache.Change{}}
	err := s.view(func(b buckets) error {
		horizon, err := b.counter(horizonKey)
		if err != nil {
			return err
		}
		if feed.Revision, err = b.counter(revisionKey); err != nil {
			return err
		}
		// A cursor above the current revision belongs to another store
		// (or this one before a reset): as stale as one below the horizon.
		if after > feed.Revision || (after > 0 && after < horizon) {
			return flagcache.ErrResyncNeeded
		}
		c := b.changes.Cursor()
		for k, v := c.Seek(revKey(after + 1)); k != nil; k, v = c.Next() {
			if limit > 0 && len(feed.Changes) == limit {
				break
			}
			change, err := b.change(flagcache.ID(v))
			if err != nil {
				return err
			}
			feed.Changes = append(feed.Changes, change)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return feed, nil
}

// change returns the feed entry of id, its latest write.
func (b buckets) change(id flagcache.ID) (flagcache.Change, error) {
	r, err := b.getRecord(id)
	if err != nil {
		return flagcache.Change{}, err
	}
	if r == nil {
		return flagcache.Change{}, corrupt(id, errDangling)
	}
	c := flagcache.Change{Revision: r.Revision, Op: flagcache.OpDelete, ID: id, Version: r.Version, Actor: b.actor(id, r.Version)}
	if r.live() {
		c.Op = flagcache.OpUpsert
		if c.Flag, err = r.stored(id); err != nil {
			return flagcache.Change{}, err
		}
	}
	return c, nil
}

// Compact implements flagcache.Compactor.
func (s *Store) Compact(ctx context.Context, before time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.expire(before)
}

// expire drops from the feed the tombstones of deletes made before the
// given time. A read-only look at the oldest tombstone comes first, so
// Changes writes (and syncs) only when something expires.
func (s *Store) expire(before time.Time) error {
	cutoff := timeKey(before)
	var due bool
	err := s.view(func(b buckets) error {
		k, _ := b.tombstones.Cursor().First()
		due = k != nil && bytes.Compare(k[:len(cutoff)], cutoff) < 0
		return nil
	})
	if err != nil || !due {
		return err
	}
	return s.update(func(b buckets) error { return b.compact(cutoff) })
}

// compact drops the tombstones whose time key sorts before cutoff: out of
// the change feed and the index, marked compacted, horizon raised.
func (b buckets) compact(cutoff []byte) error {
	horizon, err := b.counter(horizonKey)
	if err != nil {
		return err
	}
	var keys [][]byte // collected first: deleting under a cursor skips keys
	c := b.tombstones.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:len(cutoff)], cutoff) < 0; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		id := flagcache.ID(b.tombstones.Get(k))
		rev := int64(binary.BigEndian.Uint64(k[len(cutoff):]))
		r, err := b.getRecord(id)
		if err != nil {
			return err
		}
		if r == nil || r.live() || r.Revision != rev {
			return corrupt(id, errDangling)
		}
		r.Compacted = true
		if err := b.putRecord(id, r); err != nil {
			return err
		}
		if err := b.changes.Delete(revKey(rev)); err != nil {
			return err
		}
		if err := b.tombstones.Delete(k); err != nil {
			return err
		}
		horizon = max(horizon, rev)
	}
	return b.setCounter(horizonKey, horizon)
}
