package tiered

import (
	"context"
)

// RevisionWatcher is implemented by sources that announce their commits
// (pgsource, through Postgres LISTEN/NOTIFY). WatchRevisions blocks while
// listening: right after it starts listening it calls notify with the
// current revision once (so the caller repairs any gap since its last
// connection), then with the revision of each commit (a call may stand for
// several). It returns a non-nil error when the listening connection is
// lost, and ctx.Err() once ctx is cancelled.
//
// When the source implements it, the Store reads the change feed from its
// applied revision on every notification, so a write made behind its back
// (a plain SQL UPDATE) is served within the notification's latency instead
// of the periodic resync's. The resync stays as the fallback.
type RevisionWatcher interface {
	WatchRevisions(ctx context.Context, notify func(revision int64)) error
}
