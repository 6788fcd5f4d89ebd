package memstore

import (
	"context"
	"slices"

	"github.com/flagcache/flagcache"
)

// record appends e to the history of id and drops what the retention no
// longer keeps. s.mu must be held.
func (s *Store) record(id flagcache.ID, e flagcache.HistoryEntry) {
	h := append(s.history[id], e)
	slices.Reverse(h)
	h = s.keep.Retain(h, e.At)
	slices.Reverse(h)
	s.history[id] = slices.Clip(h)
}

// retained returns the history of id that the retention keeps now, newest
// first, or nil if id was never written.
func (s *Store) retained(id flagcache.ID) []flagcache.HistoryEntry {
	s.mu.RLock()
	h := slices.Clone(s.history[id])
	s.mu.RUnlock()
	slices.Reverse(h)
	return s.keep.Retain(h, s.now())
}

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
	h := s.retained(id)
	if len(h) == 0 {
		return nil, flagcache.ErrNotFound
	}
	page := flagcache.PageHistory(h, before, limit)
	for i := range page.Versions {
		page.Versions[i].Definition = page.Versions[i].Definition.Clone()
	}
	return page, nil
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
	for _, e := range s.retained(id) {
		if e.Version == version {
			e.Definition = e.Definition.Clone()
			return e.StoredVersion(id)
		}
	}
	return nil, flagcache.VersionNotFound(id, version, flagcache.WhyNotKept)
}
