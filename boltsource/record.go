package boltsource

import (
	"encoding/binary"
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
		if err := meta.Put(formatKey, u64(format)); err != nil {
			return err
		}
		return initHistory(tx)
	}
	if len(v) != 8 || binary.BigEndian.Uint64(v) != format {
		return fmt.Errorf("%w: unknown layout format %x (this version reads %d)", errCorrupt, v, format)
	}
	return initHistory(tx)
}

// record is the value of an id in the flags bucket. Without a definition it
// is a tombstone, kept for good so a re-created flag continues above its
// version.
//
// Encoded, it is a fixed header and the definition's JSON:
//
//	state (1 byte: 'L' live, 'T' tombstone, 'C' compacted tombstone)
//	version (8) revision (8) deleted_at (12, as timeKey) definition JSON
//
// A decoded record's Definition points into the database page: it is valid
// only inside the transaction that read it.
type record struct {
	Definition []byte // nil for a tombstone
	Version    int64
	Revision   int64
	DeletedAt  time.Time // UTC; zero for a live flag
	Compacted  bool      // the tombstone has left the change feed
}

const (
	headerLen      = 1 + 8 + 8 + 12
	stateLive      = 'L'
	stateTombstone = 'T'
	stateCompacted = 'C'
)

func (r *record) live() bool { return r.Definition != nil }

func (r *record) encode() []byte {
	state := byte(stateLive)
	switch {
	case r.Compacted:
		state = stateCompacted
	case !r.live():
		state = stateTombstone
	}
	v := make([]byte, 0, headerLen+len(r.Definition))
	v = append(v, state)
	v = binary.BigEndian.AppendUint64(v, uint64(r.Version))
	v = binary.BigEndian.AppendUint64(v, uint64(r.Revision))
	v = append(v, timeKey(r.DeletedAt)...)
	return append(v, r.Definition...)
}

func decodeRecord(id flagcache.ID, v []byte) (*record, error) {
	if len(v) < headerLen {
		return nil, corrupt(id, fmt.Errorf("record of %d bytes", len(v)))
	}
	r := &record{
		Version:  int64(binary.BigEndian.Uint64(v[1:9])),
		Revision: int64(binary.BigEndian.Uint64(v[9:17])),
	}
	switch v[0] {
	case stateLive:
		r.Definition = v[headerLen:]
	case stateCompacted:
		r.Compacted = true
		fallthrough
	case stateTombstone:
		r.DeletedAt = keyTime(v[17:headerLen])
	default:
		return nil, corrupt(id, fmt.Errorf("record state %q", v[0]))
	}
	return r, nil
}

// getRecord returns the record of id, or nil if the id was never written.
func (b buckets) getRecord(id flagcache.ID) (*record, error) {
	v := b.flags.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return decodeRecord(id, v)
}

func (b buckets) putRecord(id flagcache.ID, r *record) error {
	return b.flags.Put([]byte(id), r.encode())
}

func corrupt(id flagcache.ID, err error) error {
	return fmt.Errorf("%w: flag %q: %v", errCorrupt, id, err)
}

// stored decodes the live flag of r, served as stored whatever its shape
// (flagcache.DecodeStored); a new value on every call.
func (r *record) stored(id flagcache.ID) (*flagcache.Stored, error) {
	return flagcache.DecodeStored(id, r.Definition, r.Version, r.Revision), nil
}

// summary decodes r's definition for the queries, which filter and sort on
// name, status, environment names, tags, owner and updated_at: as the full
// decode does (members of another type are absent), without the Stored
// bookkeeping. Bytes that are not JSON match only queries without filters.
func (r *record) summary(id flagcache.ID) (*flagcache.Definition, error) {
	d := new(flagcache.Definition)
	if d.UnmarshalJSON(r.Definition) != nil {
		d = new(flagcache.Definition)
	}
	d.ID = id
	return d, nil
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

// keyTime decodes a timeKey, in UTC.
func keyTime(k []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(k[8:12]))).UTC()
}

// tombKey is the tombstones key of a delete: its time, then its revision.
func tombKey(deletedAt time.Time, rev int64) []byte {
	return binary.BigEndian.AppendUint64(timeKey(deletedAt), uint64(rev))
}

// errDangling is an index key whose record does not match it.
var errDangling = errors.New("index entry without a matching record")
