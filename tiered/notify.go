package tiered

import (
	"context"
	"errors"
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

// watchSource listens to the source's commit notifications until ctx
// ends, listening again with jittered backoff when the connection is lost.
func (s *Store) watchSource(ctx context.Context, w RevisionWatcher) {
	defer s.wg.Done()
	s.keepTrying(ctx, "source notifications lost", func(ctx context.Context) error {
		if err := w.WatchRevisions(ctx, s.sourceRevision); err != nil {
			return err
		}
		return errors.New("tiered: the source stopped notifying")
	})
}

// sourceRevision takes one notification: a revision past the applied one
// starts a repair (coalesced with one already pending).
func (s *Store) sourceRevision(rev int64) {
	s.heard(rev)
	s.mu.Lock()
	behind := s.applied < 0 || rev > s.applied
	s.mu.Unlock()
	if behind {
		s.obs.notified.Add(1)
		s.kick(s.repairCh)
	}
}

// heard records that the source has reached revision rev.
func (s *Store) heard(rev int64) {
	for {
		cur := s.sourceRev.Load()
		if rev <= cur || s.sourceRev.CompareAndSwap(cur, rev) {
			return
		}
	}
}
