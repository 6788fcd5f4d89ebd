package flagcache

import (
	"context"
	"time"
)

// Collection is a collection read — a list page with its total, a count,
// a modifiedSince page, a change-feed page or a batch — with the
// store-wide revision it is current at. Only the fields of its kind are
// set. Its slices, map and JSON are shared with the store's memory: read
// them, never modify them.
type Collection struct {
	// Flags is the page of a list or a modifiedSince read.
	Flags []*Stored
	// Found holds the flags of a batch by id.
	Found map[ID]*Stored
	// Total is the Count of a list's filters, or a Count's answer; page
	// and total come from the same revision.
	Total int
	// Feed is the page of a change-feed read.
	Feed *ChangeFeed
	// JSON, when not nil, is the encoding of Flags as a JSON array
	// (AppendStoredList) or of Feed (ChangeFeed.AppendJSON), made once per
	// cached result: serve it as is.
	JSON []byte
	// Revision: every write up to it is in the result. The result is
	// still the answer while the store's CollectionRevision is Revision.
	Revision int64
	// Stale is true when the source could not be reached and the result
	// came from memory: it may be behind the source.
	Stale bool
	// Exact is true when the result is exactly the answer at Revision
	// (nothing committed after it is in it), so that Revision names this
	// content and no other: only an exact result may carry an entity tag.
	// A result read while writes kept landing is served with Revision as
	// a lower bound and Exact false.
	Exact bool
}

// CollectionReader is implemented by stores that serve collections from
// memory while they can prove them current (the tiered store). Each read
// has the contract of the Store method it names, and reports the revision
// it is current at; with the source unreachable, a result computed at the
// revision the store has applied is served marked Stale instead of
// failing with ErrUnavailable.
type CollectionReader interface {
	// ReadList is List and Count of q's filters, from one revision.
	ReadList(ctx context.Context, q Query) (Collection, error)
	// ReadCount is Count.
	ReadCount(ctx context.Context, q Query) (Collection, error)
	// ReadModifiedSince is ModifiedSincePage.
	ReadModifiedSince(ctx context.Context, since time.Time, afterID ID, limit int) (Collection, error)
	// ReadChanges is Changes. Unlike the others, its result is not fixed
	// by its Revision (the source drops tombstones past its retention by
	// time, and a cursor below them expires), so it is read from the
	// source while the source answers and from memory only while it does
	// not.
	ReadChanges(ctx context.Context, after int64, limit int) (Collection, error)
	// ReadMany is GetMany.
	ReadMany(ctx context.Context, ids []ID) (Collection, error)
	// CollectionRevision returns the revision a collection read would be
	// answered at now without asking the source: ok is false when there is
	// none (no baseline yet, or writes past it are known but not applied);
	// stale is true when the source is unreachable. A result whose
	// Revision it returns with ok is unchanged (a change-feed page aside:
	// see ReadChanges).
	CollectionRevision() (revision int64, ok, stale bool)
}
