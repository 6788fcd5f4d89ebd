package tiered

import (
	"context"
	"time"

	"github.com/flagcache/flagcache"
)

// guardedSource is the source as the Store calls it: every read under the
// guard (see guard), writes as they are.
type guardedSource struct {
	flagcache.Store
	g *guard
}

func (s guardedSource) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	return guarded(s.g, ctx, func(ctx context.Context) (*flagcache.Stored, error) { return s.Store.Get(ctx, id) })
}

func (s guardedSource) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	return guarded(s.g, ctx, func(ctx context.Context) (map[flagcache.ID]*flagcache.Stored, error) {
		return s.Store.GetMany(ctx, ids)
	})
}

func (s guardedSource) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	return guarded(s.g, ctx, func(ctx context.Context) ([]*flagcache.Stored, error) { return s.Store.List(ctx, q) })
}

func (s guardedSource) Count(ctx context.Context, q flagcache.Query) (int, error) {
	return guarded(s.g, ctx, func(ctx context.Context) (int, error) { return s.Store.Count(ctx, q) })
}

func (s guardedSource) Exists(ctx context.Context, id flagcache.ID) (bool, error) {
	return guarded(s.g, ctx, func(ctx context.Context) (bool, error) { return s.Store.Exists(ctx, id) })
}

func (s guardedSource) ModifiedSince(ctx context.Context, t time.Time) ([]*flagcache.Stored, error) {
	return guarded(s.g, ctx, func(ctx context.Context) ([]*flagcache.Stored, error) { return s.Store.ModifiedSince(ctx, t) })
}

// ModifiedSincePage implements flagcache.ModifiedSincePager, through the
// source's own pager if it has one.
func (s guardedSource) ModifiedSincePage(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	return guarded(s.g, ctx, func(ctx context.Context) ([]*flagcache.Stored, error) {
		return flagcache.ModifiedSincePage(ctx, s.Store, since, afterID, limit)
	})
}

func (s guardedSource) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	return guarded(s.g, ctx, func(ctx context.Context) (*flagcache.ChangeFeed, error) { return s.Store.Changes(ctx, after, limit) })
}

func (s guardedSource) History(ctx context.Context, id flagcache.ID, before int64, limit int) (*flagcache.HistoryPage, error) {
	return guarded(s.g, ctx, func(ctx context.Context) (*flagcache.HistoryPage, error) {
		return s.Store.History(ctx, id, before, limit)
	})
}

func (s guardedSource) GetVersion(ctx context.Context, id flagcache.ID, version int64) (*flagcache.Stored, error) {
	return guarded(s.g, ctx, func(ctx context.Context) (*flagcache.Stored, error) { return s.Store.GetVersion(ctx, id, version) })
}
