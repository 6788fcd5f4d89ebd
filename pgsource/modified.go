package pgsource

import (
	"context"
	"time"

	"github.com/flagcache/flagcache"
)

// modifiedPageSQL is one page of modifiedSinceSQL after a (updated_at, id)
// cursor; the index on updated_at serves it.
const modifiedPageSQL = `SELECT ` + flagColumns + ` FROM feature_flags
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
		return s.collect(ctx, "modified since", modifiedSinceSQL+` LIMIT $2`, since.Truncate(time.Microsecond), limit)
	}
	return s.collect(ctx, "modified since", modifiedPageSQL, flagcache.Timestamp(since), string(afterID), limit)
}
