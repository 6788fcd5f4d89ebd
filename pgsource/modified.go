package pgsource

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
)

// modifiedPageSQL is one page of modifiedSinceSQL after a (updated_at, id)
// cursor; the index on updated_at serves it.
const modifiedPageSQL = `SELECT ` + modifiedColumns + ` FROM feature_flags
		WHERE (updated_at, id COLLATE "C") > ($1, $2 COLLATE "C") ORDER BY updated_at, id COLLATE "C" LIMIT $3`

var _ flagcache.ModifiedSincePager = (*Store)(nil)

// ModifiedSincePage implements flagcache.ModifiedSincePager with a LIMIT
// at the source.
func (s *Store) ModifiedSincePage(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if afterID == "" {
		// Strictly after since: after every id of since's microsecond.
		return s.collectModified(ctx, modifiedSinceSQL+` LIMIT $2`, since.Truncate(time.Microsecond), limit)
	}
	return s.collectModified(ctx, modifiedPageSQL, flagcache.Timestamp(since), string(afterID), limit)
}

// collectModified runs a query of modifiedColumns: the flags with the
// updated_at column they are ordered by as their Modified where it is not
// the definition's (a row another writer stored), so that a page's last
// flag names the cursor that continues it.
func (s *Store) collectModified(ctx context.Context, sql string, args ...any) ([]*flagcache.Stored, error) {
	rows, _ := s.pool.Query(ctx, sql, args...)
	flags, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*flagcache.Stored, error) {
		var (
			id                string
			raw               []byte
			version, revision int64
			updated           time.Time
		)
		if err := row.Scan(&id, &raw, &version, &revision, &updated); err != nil {
			return nil, err
		}
		f, err := decode(id, raw, version, revision)
		if err == nil && !updated.Equal(f.Definition.Metadata.UpdatedAt) {
			f.Modified = updated.UTC()
		}
		return f, err
	})
	if err != nil {
		return nil, translate(ctx, "modified since", err)
	}
	return flags, nil
}
