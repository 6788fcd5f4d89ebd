// Package pgsource is a flagcache.Store in PostgreSQL (pgx/v5, pgxpool):
// the source of truth that many sidecars share.
//
// Open (or New, on a pool of your own) returns a Store; Migrate brings the
// schema up to date from the migrations embedded in the binary, under an
// advisory lock, so every process may run it at start-up. Migration 1 is
// the seed's DDL (table feature_flags, its four indexes and the updated_at
// trigger) and changes nothing on a database the seed created; migration 2
// adds, and only adds, what the contract needs: a revision column, a
// single-row revision counter (flagcache_revision) and tombstones
// (flagcache_tombstones). docs/postgres.md describes the schema.
//
// # Writes
//
// Every write is one transaction. Update and Delete first lock the flag's
// row (SELECT … FOR UPDATE), which reads its real current version (for
// ErrNotFound or a *flagcache.VersionConflictError that tells the truth),
// its created_at and the transaction time; the definition is stamped with
// that time in Go, so the JSON's metadata.updated_at and the updated_at
// column are the same microsecond; then a version compare-and-set
// (UPDATE … WHERE id = $1 AND version = $2) writes it. Create locks the
// row too, if there is one (to answer ErrAlreadyExists, and so that every
// write takes the row before the revision counter: one lock order, no
// deadlock), then inserts at version 1.
//
// Triggers, not Go code, keep the books, so that a writer that knows only
// the seed's schema keeps them too: every insert or update takes the next
// revision from the counter row (whose row lock serialises writers until
// commit, so revisions are gapless and in commit order); an insert
// continues above the id's tombstone and removes it; a delete takes a
// revision and leaves a tombstone at version + 1.
//
// # Reads
//
// Get, GetMany (one round trip, id = ANY($1)), List and Count run one
// statement each. List and Count share one WHERE clause built from fixed
// fragments with bound parameters, each filter on the seed's index for it
// (status, the GIN index on tags, owner); the order is name then id under
// COLLATE "C", bytewise like flagcache.CompareStored. ModifiedSince uses the
// updated_at column. Changes reads the counter row and a page of live rows
// and retained tombstones in one statement (one snapshot). Tombstones
// older than Options.Retention count as compacted at once; Changes then
// marks them so (Compact does the same on demand), raising the horizon
// below which a cursor gets flagcache.ErrResyncNeeded.
//
// # Errors
//
// A server that cannot be reached, refuses the connection or goes away
// (dial errors, closed connections or pool, SQLSTATE class 08, 57P01…)
// gives flagcache.ErrUnavailable wrapping the cause; a cancelled context
// gives its error; a unique violation (SQLSTATE 23505) on Create gives
// flagcache.ErrAlreadyExists. Other server errors come back as opaque
// errors carrying the message: no driver type leaks out.
package pgsource
