package pgsource

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
)

// The statements of the writes. Revisions, tombstones and the version above
// a tombstone are kept by the triggers of migration 2, so these are the
// plain row operations; RETURNING reads what the triggers made of the row.
const (
	// Every write locks the flag's row (if there is one) before the
	// trigger takes the revision counter: with one lock order, a Create
	// cannot hold the counter while it waits on the row of a Delete that
	// waits for the counter. createLockSQL also reads the transaction time.
	// Both lock statements also name the write's actor for the history
	// trigger of migration 4 ($2, transaction-local), and bound how long
	// the transaction may sit idle: a client that vanished mid-write (the
	// network went half-open) would otherwise hold its locks, the revision
	// counter's among them, and so stall every write until the server's
	// TCP keepalive gives up (hours by default). Set here, not as a
	// start-up parameter, so that poolers that refuse those still work.
	createLockSQL = `SELECT now(), EXISTS (SELECT 1 FROM feature_flags WHERE id = $1 FOR UPDATE),
		set_config('flagcache.actor', $2, true), ` + idleInTransaction

	insertSQL = `INSERT INTO feature_flags (id, definition, version, created_at, updated_at)
		VALUES ($1, $2, 1, $3, $3)
		RETURNING ` + flagColumns

	// lockSQL takes the row lock for the rest of the transaction and reads
	// what the write needs: the real current version, the creation time
	// (the definition's, else the column's), and the transaction time.
	lockSQL = `SELECT version, created_at, definition->'metadata'->'created_at', now(),
		set_config('flagcache.actor', $2, true), ` + idleInTransaction + `
		FROM feature_flags WHERE id = $1 FOR UPDATE`

	idleInTransaction = `set_config('idle_in_transaction_session_timeout', '10s', true)`

	// The version CAS. Under the row lock it cannot miss; it stays a CAS
	// so that the statement alone says what it relies on.
	updateSQL = `UPDATE feature_flags SET definition = $3, version = version + 1, updated_at = $4
		WHERE id = $1 AND version = $2
		RETURNING ` + flagColumns
	deleteSQL = `DELETE FROM feature_flags WHERE id = $1 AND version = $2`

	tombstoneSQL = `SELECT version, revision FROM flagcache_tombstones WHERE id = $1`
)

// errLostRow means a row locked by this transaction was not there to write,
// which the row lock rules out.
var errLostRow = errors.New("pgsource: locked row vanished")

// Create implements flagcache.Store. The trigger continues the version
// above the id's tombstone, if any. Two Creates racing for a new id both
// find no row; the loser's INSERT fails with a unique violation.
func (s *Store) Create(ctx context.Context, def *flagcache.Definition) (*flagcache.Stored, error) {
	def, actor, err := flagcache.PrepareWrite(ctx, def, 0)
	if err != nil {
		return nil, err
	}
	var stored *flagcache.Stored
	err = s.write(ctx, func(tx pgx.Tx) error {
		var (
			now    time.Time
			exists bool
		)
		if err := tx.QueryRow(ctx, createLockSQL, string(def.ID), actor).Scan(&now, &exists, nil, nil); err != nil {
			return err
		}
		if exists {
			return flagcache.ErrAlreadyExists
		}
		def.Stamp(now, now)
		raw := def.AppendJSON(nil)
		rows, _ := tx.Query(ctx, insertSQL, string(def.ID), raw, def.Metadata.UpdatedAt)
		if stored, err = pgx.CollectExactlyOneRow(rows, scanStored); err != nil {
			return err
		}
		return s.prune(ctx, tx, def.ID)
	})
	if isUniqueViolation(err) {
		return nil, flagcache.ErrAlreadyExists
	}
	return stored, translate(ctx, "create", err)
}

// Update implements flagcache.Store.
func (s *Store) Update(ctx context.Context, def *flagcache.Definition, expectedVersion int64) (*flagcache.Stored, error) {
	def, actor, err := flagcache.PrepareWrite(ctx, def, expectedVersion)
	if err != nil {
		return nil, err
	}
	var stored *flagcache.Stored
	err = s.write(ctx, func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, def.ID, expectedVersion, actor)
		if err != nil {
			return err
		}
		def.Stamp(cur.created, cur.now)
		raw := def.AppendJSON(nil)
		rows, _ := tx.Query(ctx, updateSQL, string(def.ID), cur.version, raw, def.Metadata.UpdatedAt)
		stored, err = pgx.CollectExactlyOneRow(rows, scanStored)
		if errors.Is(err, pgx.ErrNoRows) {
			return errLostRow
		}
		if err != nil {
			return err
		}
		return s.prune(ctx, tx, def.ID)
	})
	return stored, translate(ctx, "update", err)
}

// Delete implements flagcache.Store. The trigger writes the tombstone.
func (s *Store) Delete(ctx context.Context, id flagcache.ID, expectedVersion int64) (flagcache.Change, error) {
	actor, err := flagcache.PrepareDelete(ctx, id, expectedVersion)
	if err != nil {
		return flagcache.Change{}, err
	}
	change := flagcache.Change{Op: flagcache.OpDelete, ID: id, Actor: actor}
	err = s.write(ctx, func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, id, expectedVersion, actor)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, deleteSQL, string(id), cur.version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errLostRow
		}
		if err := tx.QueryRow(ctx, tombstoneSQL, string(id)).Scan(&change.Version, &change.Revision); err != nil {
			return err
		}
		return s.prune(ctx, tx, id)
	})
	if err != nil {
		return flagcache.Change{}, translate(ctx, "delete", err)
	}
	return change, nil
}

// writeAttempts bounds how often a write is tried when Postgres aborts it
// as a deadlock victim or a serialization failure.
const writeAttempts = 4

// write runs fn in a transaction, again when Postgres aborted it as a
// deadlock victim (40P01) or for a serialization failure (40001): the
// transaction rolled back, so nothing of it happened. Another writer
// makes the deadlock: a plain-SQL INSERT … ON CONFLICT DO UPDATE fires
// the revision trigger of migration 2 (taking the revision counter)
// before it finds the conflicting row, so it can hold the counter while
// it waits for the row a flagcache write has locked and is waiting for
// the counter with. Postgres aborts one of the two; if it is ours, it is
// retried here, after a short jittered pause, so the foreign writer's
// transaction can finish first.
//
// At most half the pool's connections (at least one) write at once (see
// Store.writers).
func (s *Store) write(ctx context.Context, fn func(pgx.Tx) error) error {
	select {
	case s.writers <- struct{}{}:
		defer func() { <-s.writers }()
	case <-ctx.Done():
		return ctx.Err()
	}
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if !retryable(err) || attempt == writeAttempts || ctx.Err() != nil {
			return err
		}
		pause := time.Duration(attempt) * (5*time.Millisecond + time.Duration(rand.Int64N(int64(20*time.Millisecond))))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
	}
}

// current is what lockSQL reads of a live flag.
type current struct {
	version int64
	created time.Time
	now     time.Time
}

// lock locks the live row of id and checks expectedVersion against it,
// returning ErrNotFound or a *VersionConflictError with the real version.
// It names actor as the write's for the history.
func lock(ctx context.Context, tx pgx.Tx, id flagcache.ID, expectedVersion int64, actor string) (current, error) {
	var (
		cur        current
		defCreated []byte
	)
	err := tx.QueryRow(ctx, lockSQL, string(id), actor).Scan(&cur.version, &cur.created, &defCreated, &cur.now, nil, nil)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return cur, flagcache.ErrNotFound
	case err != nil:
		return cur, err
	case expectedVersion != 0 && expectedVersion != cur.version:
		return cur, &flagcache.VersionConflictError{ID: id, Expected: expectedVersion, Actual: cur.version}
	}
	// created_at is kept as the flag shows it; a definition written by
	// another writer without one falls back to the column.
	var t time.Time
	if json.Unmarshal(defCreated, &t) == nil && !t.IsZero() {
		cur.created = t
	}
	return cur, nil
}
