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
//	            "horizon" → revision of the newest tombstone dropped from the feed
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
// List, Count and ModifiedSince scan the flags bucket and filter in memory
// with flagcache.Query.Match, which is fine at embedded scale (tens of
// thousands of flags).
//
// # Errors
//
// Errors of bbolt (a closed store, a failed disk write) are returned wrapped
// with flagcache.Unavailable. A record that does not decode is reported as
// corrupt, naming the id; it matches no flagcache sentinel.
package boltsource
