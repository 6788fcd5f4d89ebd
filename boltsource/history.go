package boltsource

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/flagcache/flagcache"
)

// The history bucket holds every version each write produced, keyed by id,
// a NUL (which no id contains) and the version big-endian, so one id's
// versions are one contiguous range in version order. It is written in the
// transaction of the write it records.
var historyBucket = []byte("history")

// historyValue is an entry as the bucket holds it (the key has id and
// version).
type historyValue struct {
	Revision   int64           `json:"r"`
	Op         flagcache.Op    `json:"o"`
	Actor      string          `json:"a"`
	At         time.Time       `json:"t"`
	Definition json.RawMessage `json:"d,omitempty"`
}

func historyPrefix(id flagcache.ID) []byte {
	return append([]byte(id), 0)
}

func historyKey(id flagcache.ID, version int64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(id), uint64(version))
}

// initHistory creates the history bucket. A file written before history
// existed gets one entry per id, its latest write, by ActorUnknown, so
// every id ever written has a history.
func initHistory(tx *bolt.Tx) error {
	if tx.Bucket(historyBucket) != nil {
		return nil
	}
	h, err := tx.CreateBucket(historyBucket)
	if err != nil {
		return err
	}
	b := open(tx)
	return b.flags.ForEach(func(k, v []byte) error {
		id := flagcache.ID(k)
		r, err := decodeRecord(id, v)
		if err != nil {
			return err
		}
		e := historyValue{Revision: r.Revision, Op: flagcache.OpDelete, Actor: flagcache.ActorUnknown, At: r.DeletedAt}
		if r.live() {
			e.Op, e.Definition = flagcache.OpUpsert, r.Definition
			if d, err := r.summary(id); err == nil {
				e.At = d.Metadata.UpdatedAt
			}
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return h.Put(historyKey(id, r.Version), raw)
	})
}

func (b buckets) history() *bolt.Bucket { return b.meta.Tx().Bucket(historyBucket) }

// record writes the history entry of a write of id at version and prunes
// what the retention no longer keeps of id.
func (s *Store) record(b buckets, id flagcache.ID, version int64, e historyValue) error {
	if s.noHistory {
		return nil
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	h := b.history()
	if err := h.Put(historyKey(id, version), raw); err != nil {
		return err
	}
	if s.keep == (flagcache.HistoryRetention{}) {
		return nil
	}
	var drop [][]byte
	err = b.eachVersion(id, func(rank int, k []byte, v historyValue) bool {
		if !s.keep.Keeps(rank, v.At, e.At) {
			drop = append(drop, bytes.Clone(k))
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := h.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// eachVersion calls fn with the history entries of id, newest first, until
// fn returns false.
func (b buckets) eachVersion(id flagcache.ID, fn func(rank int, key []byte, v historyValue) bool) error {
	prefix := historyPrefix(id)
	c := b.history().Cursor()
	// Seek past the id's last entry, then step back onto it.
	k, _ := c.Seek(append([]byte(id), 1))
	var v []byte
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for rank := 0; k != nil && bytes.HasPrefix(k, prefix); rank++ {
		var e historyValue
		if err := json.Unmarshal(v, &e); err != nil {
			return corrupt(id, err)
		}
		if !fn(rank, k, e) {
			return nil
		}
		k, v = c.Prev()
	}
	return nil
}

// retained returns the history of id that the retention keeps now, newest
// first.
func (s *Store) retained(ctx context.Context, id flagcache.ID) ([]flagcache.HistoryEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	var out []flagcache.HistoryEntry
	err := s.view(func(b buckets) error {
		var err error
		ferr := b.eachVersion(id, func(rank int, k []byte, v historyValue) bool {
			if !s.keep.Keeps(rank, v.At, now) {
				return true
			}
			e := flagcache.HistoryEntry{
				Version:  int64(binary.BigEndian.Uint64(k[len(k)-8:])),
				Revision: v.Revision, Op: v.Op, Actor: v.Actor, At: v.At,
			}
			if v.Definition != nil {
				e.Definition = new(flagcache.Definition)
				if err = json.Unmarshal(v.Definition, e.Definition); err != nil {
					err = corrupt(id, err)
					return false
				}
			}
			out = append(out, e)
			return true
		})
		if ferr != nil {
			return ferr
		}
		return err
	})
	return out, err
}

// actor returns who made the write of id at version, "" if it is not
// recorded.
func (b buckets) actor(id flagcache.ID, version int64) string {
	raw := b.history().Get(historyKey(id, version))
	if raw == nil {
		return ""
	}
	var v struct {
		Actor string `json:"a"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Actor
}

// History implements flagcache.HistoryReader.
func (s *Store) History(ctx context.Context, id flagcache.ID, before int64, limit int) (*flagcache.HistoryPage, error) {
	return flagcache.RetainedHistory(s.retained).History(ctx, id, before, limit)
}

// GetVersion implements flagcache.HistoryReader.
func (s *Store) GetVersion(ctx context.Context, id flagcache.ID, version int64) (*flagcache.Stored, error) {
	return flagcache.RetainedHistory(s.retained).GetVersion(ctx, id, version)
}
