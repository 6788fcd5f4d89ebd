package boltsource

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/flagcache/flagcache"
)

var (
	flagsBucket      = []byte("flags")
	changesBucket    = []byte("changes")
	tombstonesBucket = []byte("tombstones")
	metaBucket       = []byte("meta")

	formatKey   = []byte("format")
	revisionKey = []byte("revision")
	horizonKey  = []byte("horizon")
)

// format is the layout version written in meta; Open refuses any other.
const format = 1

// buckets are the buckets of one transaction.
type buckets struct {
	flags, changes, tombstones, meta *bolt.Bucket
}

func open(tx *bolt.Tx) buckets {
	return buckets{
		flags:      tx.Bucket(flagsBucket),
		changes:    tx.Bucket(changesBucket),
		tombstones: tx.Bucket(tombstonesBucket),
		meta:       tx.Bucket(metaBucket),
	}
}

// initialize creates the buckets of a new file and checks the format of an
// existing one.
func initialize(tx *bolt.Tx) error {
	for _, name := range [][]byte{flagsBucket, changesBucket, tombstonesBucket, metaBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(metaBucket)
	v := meta.Get(formatKey)
	if v == nil {
		return meta.Put(formatKey, u64(format))
	}
	if len(v) != 8 || binary.BigEndian.Uint64(v) != format {
		return fmt.Errorf("%w: unknown layout format %x (this version reads %d)", errCorrupt, v, format)
	}
	return nil
}

// record is the value of an id in the flags bucket. Without a definition it
// is a tombstone, kept for good so a re-created flag continues above its
// version.
type record struct {
	Definition json.RawMessage `json:"definition,omitempty"`
	Version    int64           `json:"version"`
	Revision   int64           `json:"revision"`
	DeletedAt  time.Time       `json:"deleted_at,omitzero"`
	// Compacted is set once the tombstone left the change feed.
	Compacted bool `json:"compacted,omitempty"`
}

func (r *record) live() bool { return r.Definition != nil }

// getRecord returns the record of id, or nil if the id was never written.
func (b buckets) getRecord(id flagcache.ID) (*record, error) {
	v := b.flags.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return decodeRecord(id, v)
}

func decodeRecord(id flagcache.ID, v []byte) (*record, error) {
	r := new(record)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, corrupt(id, err)
	}
	return r, nil
}

func corrupt(id flagcache.ID, err error) error {
	return fmt.Errorf("%w: flag %q: %v", errCorrupt, id, err)
}

func (b buckets) putRecord(id flagcache.ID, r *record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.flags.Put([]byte(id), v)
}

// stored decodes the live flag of r; a new value on every call.
func (r *record) stored(id flagcache.ID) (*flagcache.Stored, error) {
	def := new(flagcache.Definition)
	if err := json.Unmarshal(r.Definition, def); err != nil {
		return nil, corrupt(id, err)
	}
	return flagcache.NewStored(def, r.Version, r.Revision), nil
}

// liveFlag returns the stored flag of id, or nil if it does not exist.
func (b buckets) liveFlag(id flagcache.ID) (*flagcache.Stored, error) {
	r, err := b.getRecord(id)
	if err != nil || r == nil || !r.live() {
		return nil, err
	}
	return r.stored(id)
}

// counter reads a meta counter (0 if never set).
func (b buckets) counter(key []byte) (int64, error) {
	v := b.meta.Get(key)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: meta %s is %d bytes", errCorrupt, key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func (b buckets) setCounter(key []byte, n int64) error {
	return b.meta.Put(key, u64(uint64(n)))
}

func u64(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

// revKey is the changes key of a revision: big-endian, so keys sort in
// revision order.
func revKey(rev int64) []byte { return u64(uint64(rev)) }

// timeKey encodes t so that byte order is time order: seconds with the sign
// bit flipped, then nanoseconds, 12 bytes.
func timeKey(t time.Time) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 20), uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(k, uint32(t.Nanosecond()))
}

// tombKey is the tombstones key of a delete: its time, then its revision.
func tombKey(deletedAt time.Time, rev int64) []byte {
	return binary.BigEndian.AppendUint64(timeKey(deletedAt), uint64(rev))
}

// errDangling is an index key whose record does not match it.
var errDangling = errors.New("index entry without a matching record")
