package tiered

import (
	"context"

	"github.com/flagcache/flagcache"
)

// History implements flagcache.HistoryReader from the source: history is
// read rarely and never cached.
func (s *Store) History(ctx context.Context, id flagcache.ID, before int64, limit int) (*flagcache.HistoryPage, error) {
	page, err := s.source.History(ctx, id, before, limit)
	s.sourceResult(err)
	return page, err
}

// GetVersion implements flagcache.HistoryReader from the source.
func (s *Store) GetVersion(ctx context.Context, id flagcache.ID, version int64) (*flagcache.Stored, error) {
	st, err := s.source.GetVersion(ctx, id, version)
	s.sourceResult(err)
	return st, err
}
