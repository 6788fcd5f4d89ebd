package flagcache

import (
	"cmp"
	"context"
	"time"
)

// ModifiedSincePager is implemented by stores that page ModifiedSince at
// the source, so a page costs the source a page, not every flag.
type ModifiedSincePager interface {
	// ModifiedSincePage returns at most limit flags after the cursor, in
	// (updated_at, id) order: with afterID "" those whose updated_at is
	// strictly after since (what ModifiedSince returns); with afterID
	// those whose (updated_at, id) is after (since, afterID), so a page
	// continues where the previous one ended with since = its last flag's
	// ModifiedAt and afterID = its id. updated_at is the store's own
	// (Stored.ModifiedAt), which for a row another writer stored need not
	// be the definition's.
	ModifiedSincePage(ctx context.Context, since time.Time, afterID ID, limit int) ([]*Stored, error)
}

// ModifiedSincePage returns a page of the flags modified after a cursor
// (see ModifiedSincePager) from s: from its ModifiedSincePager when it is
// one, else by paging what ModifiedSince returns. limit must be positive.
func ModifiedSincePage(ctx context.Context, s Store, since time.Time, afterID ID, limit int) ([]*Stored, error) {
	if limit <= 0 {
		return nil, Invalid("limit", "must be positive")
	}
	if afterID != "" {
		if err := validateID("after_id", afterID); err != nil {
			return nil, err
		}
	}
	if p, ok := s.(ModifiedSincePager); ok {
		return p.ModifiedSincePage(ctx, since, afterID, limit)
	}
	from := since
	if afterID != "" {
		// Stores keep microseconds: this also returns the flags of since.
		from = Timestamp(since).Add(-time.Microsecond)
	}
	all, err := s.ModifiedSince(ctx, from)
	if err != nil {
		return nil, err
	}
	page := make([]*Stored, 0, min(limit, len(all)))
	for _, f := range all {
		if afterID != "" && CompareModified(f, since, afterID) <= 0 {
			continue
		}
		if page = append(page, f); len(page) == limit {
			break
		}
	}
	return page, nil
}

// CompareModified orders a flag against the cursor (since, afterID) by
// ModifiedAt, then id.
func CompareModified(f *Stored, since time.Time, afterID ID) int {
	if c := f.ModifiedAt().Compare(Timestamp(since)); c != 0 {
		return c
	}
	return cmp.Compare(f.Definition.ID, afterID)
}
