package pgsource

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
)

// changesSQL reads the change feed in one statement, so one snapshot: the
// counter row (current revision, horizon), the newest tombstone that has
// outlived the retention without being compacted yet (it counts as
// compacted: Changes is right without writing), and the page of the feed,
// live rows and retained tombstones by revision. The LEFT JOIN keeps the
// head row when the page is empty; the actor of each change is its
// history entry's (migration 4).
//
// $1 after, $2 limit (0 = none), $3 retention.
const changesSQL = `
WITH head AS (
	SELECT revision, horizon, now() - $3::interval AS cutoff,
		(SELECT max(revision) FROM flagcache_tombstones
		 WHERE NOT compacted AND deleted_at < now() - $3::interval) AS expired
	FROM flagcache_revision
), page AS (
	(SELECT revision, id, version, definition FROM feature_flags WHERE revision > $1
	 UNION ALL
	 SELECT revision, id, version, NULL FROM flagcache_tombstones
	 WHERE revision > $1 AND NOT compacted AND deleted_at >= now() - $3::interval)
	ORDER BY revision
	LIMIT NULLIF($2::bigint, 0)
)
SELECT head.revision, head.horizon, head.cutoff, head.expired,
	page.revision, page.id, page.version, page.definition, h.actor
FROM head LEFT JOIN page ON TRUE
	LEFT JOIN flagcache_history h ON h.id = page.id AND h.version = page.version
ORDER BY page.revision`

// Compaction: the counter row is locked first, as every writer that
// touches a tombstone does, so compaction and writes cannot deadlock.
const (
	lockCounterSQL = `SELECT 1 FROM flagcache_revision FOR UPDATE`
	compactSQL     = `WITH dropped AS (
		UPDATE flagcache_tombstones SET compacted = TRUE
		WHERE NOT compacted AND deleted_at < $1
		RETURNING revision
	)
	UPDATE flagcache_revision SET horizon = GREATEST(horizon, (SELECT max(revision) FROM dropped))`
)

// Changes implements flagcache.Store.
func (s *Store) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckCursor(after, limit); err != nil {
		return nil, err
	}
	feed := &flagcache.ChangeFeed{Changes: []flagcache.Change{}}
	var (
		horizon int64
		cutoff  time.Time
		expired *int64
	)
	rows, _ := s.pool.Query(ctx, changesSQL, after, int64(limit), s.retention)
	defer rows.Close()
	for rows.Next() {
		var (
			revision, version *int64
			id, actor         *string
			raw               []byte
		)
		if err := rows.Scan(&feed.Revision, &horizon, &cutoff, &expired, &revision, &id, &version, &raw, &actor); err != nil {
			return nil, translate(ctx, "changes", err)
		}
		if revision == nil {
			continue // the head row of an empty page
		}
		c := flagcache.Change{Revision: *revision, Op: flagcache.OpDelete, ID: flagcache.ID(*id), Version: *version}
		if actor != nil {
			c.Actor = *actor
		}
		if raw != nil {
			flag, err := decode(*id, raw, *version, *revision)
			if err != nil {
				return nil, err
			}
			c.Op, c.Flag = flagcache.OpUpsert, flag
		}
		feed.Changes = append(feed.Changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(ctx, "changes", err)
	}
	if expired != nil {
		horizon = max(horizon, *expired)
		// Housekeeping, so the expired set stays small; the feed above
		// is already right, so a failure here is left to the next call.
		_ = s.Compact(ctx, cutoff)
	}
	// A cursor above the current revision belongs to another (or a reset)
	// database: the caller must resync rather than wait for it silently.
	if after > feed.Revision || (after > 0 && after < horizon) {
		return nil, flagcache.ErrResyncNeeded
	}
	return feed, nil
}

// Compact implements flagcache.Compactor: the tombstones of deletes before
// t leave the change feed (keeping their versions), and the horizon rises
// to the newest of them.
func (s *Store) Compact(ctx context.Context, before time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockCounterSQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, compactSQL, before)
		return err
	})
	return translate(ctx, "compact", err)
}
