// Package boltsource is a durable, embedded flagcache.Store in one file,
// built on go.etcd.io/bbolt. It is the daemon's source of truth when no
// configuration names another one.
//
// Open takes an exclusive lock on the file: a second process (or a second
// Open in the same process) waits Options.Timeout and then fails with an
// error matching ErrLocked. Every write is one bbolt read-write transaction,
// so it is atomic and on disk when the call returns; reads run in read-only
// transactions and see a consistent snapshot. The behaviour is that of
// memstore, the reference implementation of the contract.
//
// # Layout
//
// The file holds four buckets:
//
//	flags       id → JSON record {"definition", "version", "revision", "deleted_at", "compacted"}
//	changes     8-byte big-endian revision → id
//	tombstones  deleted_at (12 bytes, sortable) + revision (8 bytes) → id
//	meta        "format" → 1, "revision" → last revision handed out,
//	            "horizon" → revision of the newest tombstone dropped from the feed,
//	            "index" → index version and the revision the indexes are current at
//	index, index_counts, index_ids, index_odd
//	            the query indexes (below)
//
// A record without a definition is a tombstone: it keeps the id's version
// forever, so a re-created flag continues above it. The definition is kept
// as json.Marshal produced it, unknown fields included.
//
// The changes bucket holds exactly one key per id still in the change feed,
// its latest write: every write deletes the id's previous revision key and
// puts the new one, so Changes is a cursor seek to after+1. The tombstones
// bucket indexes the deletes still in the feed by time, so expiring them
// (Compact, and Changes with Options.Retention) reads only what expires: it
// removes their changes and tombstones keys, marks their records compacted
// and raises the horizon. A Changes cursor below the horizon missed a delete
// that is no longer in the feed and gets flagcache.ErrResyncNeeded, as does
// a cursor above the current revision (it belongs to another file).
//
// # Indexes
//
// List and Count read indexes kept in the transaction of every write: one
// ordered posting list per (dimension, value, status) — every flag, each
// tag, each owner, each environment — whose keys sort in List order (name,
// then id) and whose lengths are counted. A List with Limit seeks once per
// status it allows and reads Offset+Limit entries and the records of its
// page; a Count with at most one filter dimension (one tag, an owner or an
// environment, with any status rule) reads one counter per status. With
// several dimensions (two tags, a tag and an owner, ...) the shortest is
// walked and each entry checked against the others by key, so the cost is
// that list's length, not the number of flags. Offset is walked, not
// seeked. BenchmarkIndexedQuery measures 10,000 against 100,000 flags
// (docs/benchmarks.md).
//
// Open rebuilds the indexes (in transactions of 10,000 records, the marker
// written last, so an interrupted rebuild starts over) when the meta "index"
// key is missing (a file from before the indexes), names another index
// version, or names another revision than the store's: a binary that does
// not maintain the indexes can still open the file (the format is
// unchanged), and its writes are caught on the next Open. A live record
// whose summary does not decode is kept out of the indexes (index_odd), and
// while there is one List and Count scan the flags bucket as they did
// before the indexes. ModifiedSince and ModifiedSincePage walk the dimModified
// entries, keyed by (updated_at, id) to the nanosecond: a page is a seek
// and its own records (BenchmarkModifiedSincePage).
//
// # Errors
//
// Errors of bbolt (a closed store, a failed disk write) are returned wrapped
// with flagcache.Unavailable. A record that does not decode is reported as
// corrupt, naming the id; it matches no flagcache sentinel.
package boltsource
