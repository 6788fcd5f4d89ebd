package tiered

import (
	"context"
	"math/rand/v2"
	"time"
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

// watchBackoff bounds the pause between attempts to listen again.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 10 * time.Second
)

// watchSource listens to the source's commit notifications until ctx
// ends, listening again with jittered backoff when the connection is lost.
func (s *Store) watchSource(ctx context.Context, w RevisionWatcher) {
	defer s.wg.Done()
	backoff := watchMinBackoff
	for {
		started := time.Now()
		err := w.WatchRevisions(ctx, s.sourceRevision)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > watchMaxBackoff {
			backoff = watchMinBackoff // it listened a while: not a failing loop
		}
		s.log.Warn("tiered: source notifications lost; listening again", "err", err, "retry_in", backoff)
		// Full jitter: sidecars that lost the same server do not return
		// in step.
		t := time.NewTimer(rand.N(backoff) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
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
