package boltsource

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"time"

	"github.com/flagcache/flagcache"
)

var _ flagcache.ModifiedSincePager = (*Store)(nil)

// modifiedKeyLen is the length of a modifiedKey before the id.
const modifiedKeyLen = 1 + 8 + 4

// modifiedKey is a flag's dimModified index key: dimModified, the seconds
// of updated_at since 1970 with the sign bit flipped (so that earlier
// years sort first), its nanoseconds, then the id. Byte order of keys is
// (updated_at, id) order for every instant a time.Time holds, to the
// nanosecond: another writer's record need not be in microseconds.
func modifiedKey(t time.Time, id flagcache.ID) []byte {
	k := make([]byte, 0, modifiedKeyLen+len(id))
	k = append(k, dimModified)
	k = binary.BigEndian.AppendUint64(k, uint64(t.Unix())^1<<63)
	k = binary.BigEndian.AppendUint32(k, uint32(t.Nanosecond()))
	return append(k, id...)
}

// modifiedFrom is the smallest key of the flags after the cursor (see
// flagcache.ModifiedSincePager): with no id, the first of the nanosecond
// after since; with one, the key right after (since, afterID).
func modifiedFrom(since time.Time, afterID flagcache.ID) []byte {
	if afterID == "" {
		return modifiedKey(since.Add(time.Nanosecond), "")
	}
	return append(modifiedKey(since, afterID), 0)
}

// ModifiedSince implements flagcache.Store.
func (s *Store) ModifiedSince(ctx context.Context, t time.Time) ([]*flagcache.Stored, error) {
	return s.modified(ctx, t, "", 0)
}

// ModifiedSincePage implements flagcache.ModifiedSincePager: a seek in
// the dimModified index and a walk of the page, so a page costs
// O(log N + limit) whatever the number of flags.
func (s *Store) ModifiedSincePage(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	if limit <= 0 {
		return nil, flagcache.Invalid("limit", "must be positive")
	}
	return s.modified(ctx, since, afterID, limit)
}

// modified returns at most limit (0: every) live flags after the cursor,
// oldest first. While a live record is out of the indexes (index_odd) it
// scans, as List and Count do.
func (s *Store) modified(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	from := modifiedFrom(since, afterID)
	var out []*flagcache.Stored
	err := s.view(func(b buckets) error {
		ix := b.index()
		if k, _ := ix.odd.Cursor().First(); k != nil {
			var err error
			out, err = b.scanModified(from, limit)
			return err
		}
		c := ix.entries.Cursor()
		for k, _ := c.Seek(from); k != nil && k[0] == dimModified && (limit == 0 || len(out) < limit); k, _ = c.Next() {
			id := flagcache.ID(k[modifiedKeyLen:])
			f, err := b.liveFlag(id)
			if err != nil {
				return err
			}
			if f == nil {
				return corrupt(id, errDangling)
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanModified is modified without the index: every record's summary is
// read and the matches sorted.
func (b buckets) scanModified(from []byte, limit int) ([]*flagcache.Stored, error) {
	key := func(f *flagcache.Stored) []byte { return modifiedKey(f.Definition.Metadata.UpdatedAt, f.Definition.ID) }
	modified, records, err := b.scan(func(d *flagcache.Definition) bool {
		return bytes.Compare(modifiedKey(d.Metadata.UpdatedAt, d.ID), from) >= 0
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(modified, func(x, y *flagcache.Stored) int { return bytes.Compare(key(x), key(y)) })
	if limit > 0 && len(modified) > limit {
		modified = modified[:limit]
	}
	return modified, decodeAll(modified, records)
}
