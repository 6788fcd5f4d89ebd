package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/flagcache/flagcache"
)

// record appends v to the history of id and drops what the retention no
// longer keeps. s.mu must be held.
func (s *Store) record(id flagcache.ID, v version) {
	s.history[id] = slices.Clip(s.retain(append(s.history[id], v), v.At))
}

// retain returns the versions of h (oldest first) that the retention
// keeps at now, in place.
func (s *Store) retain(h []version, now time.Time) []version {
	out := h[:0]
	for i, v := range h {
		if s.keep.Keeps(len(h)-1-i, v.At, now) {
			out = append(out, v)
		}
	}
	return out
}

// retained returns the history of id that the retention keeps now, newest
// first, decoded, or nil if id was never written.
func (s *Store) retained(id flagcache.ID) []flagcache.HistoryEntry {
	s.mu.RLock()
	h := s.retain(slices.Clone(s.history[id]), s.now())
	s.mu.RUnlock()
	out := make([]flagcache.HistoryEntry, len(h))
	for i, v := range h {
		e := v.HistoryEntry
		if v.raw != nil {
			e.Definition = flagcache.DecodeStored(id, v.raw, v.Version, v.Revision).Definition
		}
		out[len(h)-1-i] = e
	}
	return out
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
	return flagcache.PageHistory(h, before, limit), nil
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
			return e.StoredVersion(id)
		}
	}
	return nil, flagcache.VersionNotFound(id, version, flagcache.WhyNotKept)
}
