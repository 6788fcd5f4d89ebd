package pgsource

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
)

// The history of migration 4: its trigger writes an entry for every write,
// pgsource's or anyone's, in the write's transaction. pgsource names the
// actor of its writes in the transaction-local setting the trigger reads
// (see setActorSQL in the lock statements of write.go); the value is a
// bound parameter, never SQL text.
const (
	// historySQL reads one flag's kept history, newest first. rank 0 is
	// the newest entry, which the retention always keeps.
	//
	// $1 id, $2 max versions (0 = any), $3 max age (0 = any),
	// $4 before (0 = from the newest), $5 limit (0 = all).
	historySQL = `
WITH h AS (
	SELECT version, revision, op, actor, at, definition,
		row_number() OVER (ORDER BY version DESC) - 1 AS rank
	FROM flagcache_history WHERE id = $1
)
SELECT version, revision, op, actor, at, definition FROM h
WHERE (rank = 0 OR (($2::bigint = 0 OR rank < $2::bigint)
		AND ($3::interval = '0'::interval OR at >= now() - $3::interval)))
	AND ($4::bigint = 0 OR version < $4::bigint)
ORDER BY version DESC
LIMIT NULLIF($5::bigint, 0)`

	historyExistsSQL = `SELECT EXISTS (SELECT 1 FROM flagcache_history WHERE id = $1)`

	// pruneSQL drops what the retention no longer keeps of one flag, in
	// the transaction of a write of it: same parameters as historySQL.
	pruneSQL = `
DELETE FROM flagcache_history d USING (
	SELECT version, at, row_number() OVER (ORDER BY version DESC) - 1 AS rank
	FROM flagcache_history WHERE id = $1
) h
WHERE d.id = $1 AND d.version = h.version AND h.rank > 0
	AND (($2::bigint > 0 AND h.rank >= $2::bigint)
		OR ($3::interval > '0'::interval AND h.at < now() - $3::interval))`
)

// History implements flagcache.HistoryReader.
func (s *Store) History(ctx context.Context, id flagcache.ID, before int64, limit int) (*flagcache.HistoryPage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckHistoryPage(before, limit); err != nil {
		return nil, err
	}
	// One more than the page says whether an older one follows.
	fetch := int64(limit)
	if limit > 0 {
		fetch++
	}
	entries, err := s.history(ctx, id, before, fetch)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, historyExistsSQL, string(id)).Scan(&exists); err != nil {
			return nil, translate(ctx, "history", err)
		}
		if !exists {
			return nil, flagcache.ErrNotFound
		}
	}
	return flagcache.PageHistory(entries, 0, limit), nil
}

// GetVersion implements flagcache.HistoryReader.
func (s *Store) GetVersion(ctx context.Context, id flagcache.ID, version int64) (*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckVersionNumber(version); err != nil {
		return nil, err
	}
	entries, err := s.history(ctx, id, version+1, 1)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 || entries[0].Version != version {
		return nil, flagcache.VersionNotFound(id, version, flagcache.WhyNotKept)
	}
	return entries[0].StoredVersion(id)
}

func (s *Store) history(ctx context.Context, id flagcache.ID, before, limit int64) ([]flagcache.HistoryEntry, error) {
	rows, _ := s.pool.Query(ctx, historySQL, string(id), int64(s.keep.MaxVersions), s.keep.MaxAge, before, limit)
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (flagcache.HistoryEntry, error) {
		var (
			e   flagcache.HistoryEntry
			op  string
			raw []byte
		)
		if err := row.Scan(&e.Version, &e.Revision, &op, &e.Actor, &e.At, &raw); err != nil {
			return e, err
		}
		e.Op, e.At = flagcache.Op(op), flagcache.Timestamp(e.At)
		if raw != nil {
			st, err := decode(string(id), raw, e.Version, e.Revision)
			if err != nil {
				return e, err
			}
			e.Definition = st.Definition
		}
		return e, nil
	})
	if errors.Is(err, errCorrupt) {
		return nil, err
	}
	return entries, translate(ctx, "history", err)
}

// prune runs pruneSQL in the transaction of a write of id, when the
// retention bounds anything.
func (s *Store) prune(ctx context.Context, tx pgx.Tx, id flagcache.ID) error {
	if s.keep == (flagcache.HistoryRetention{}) {
		return nil
	}
	_, err := tx.Exec(ctx, pruneSQL, string(id), int64(s.keep.MaxVersions), s.keep.MaxAge)
	return err
}
