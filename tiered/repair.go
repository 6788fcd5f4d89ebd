package tiered

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/invalidation"
)

// repairPage is how many changes a repair reads per call.
const repairPage = 1000

// handler adapts Store to invalidation.Handler without widening Store's API.
type handler struct{ s *Store }

func (h handler) Invalidate(m invalidation.Message) { h.s.invalidate(m) }

func (h handler) Gap(reason string) {
	h.s.obs.gaps.Add(1)
	h.s.log.Warn("tiered: invalidations may have been missed; repairing from the change feed", "reason", reason)
	h.s.kick(h.s.repairCh)
}

// invalidate applies one message: older copies go, the version is
// remembered against racing fills, and a revision jump starts a repair.
func (s *Store) invalidate(m invalidation.Message) {
	s.heard(m.Revision)
	s.lru.Announce(m.ID, m.Version, m.Revision)
	s.group.Forget(string(m.ID))
	s.obs.received.Add(1) // counted once applied: a reader of Stats may rely on it
	s.mu.Lock()
	jump := s.applied >= 0 && m.Revision > s.applied+1
	if s.applied >= 0 && m.Revision == s.applied+1 {
		s.applied = m.Revision
		s.lru.SetKnown(m.Revision)
	}
	s.mu.Unlock()
	if jump {
		s.obs.gaps.Add(1)
		s.kick(s.repairCh)
	}
	if m.Origin != s.opts.Origin {
		s.changed()
	}
}

// OnChange registers f to be called (without locks held, from the
// invalidation and repair goroutines) each time the store learns of writes
// made through another sidecar — e.g. to wake watch streams. f must not
// block. A later call replaces f.
func (s *Store) OnChange(f func()) { s.onChange.Store(&f) }

func (s *Store) changed() {
	if f := s.onChange.Load(); f != nil {
		(*f)()
	}
}

// repairLoop runs repairs one at a time: on request, periodically (for
// writes nobody announced), and again after a failure.
func (s *Store) repairLoop() {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.opts.ResyncInterval > 0 {
		t := time.NewTicker(s.opts.ResyncInterval)
		defer t.Stop()
		tick = t.C
	}
	s.kick(s.repairCh) // establish the baseline revision
	var retry <-chan time.Time
	failures := 0 // repairs failed in a row: the failure episode
	for {
		select {
		case <-s.stop:
			return
		case <-s.repairCh:
		case <-s.redisCh:
		case <-tick:
		case <-retry:
		}
		retry = nil
		ok := s.runRepair(failures)
		if ok {
			failures = 0
		} else {
			failures++
		}
		if !ok || !s.runRedisRepair() {
			retry = time.After(retryDelay(s.opts.BreakerCooldown, failures))
		}
	}
}

// retryDelay is the pause before the next attempt after failures repairs
// failed in a row: cooldown doubling up to 30 s, jittered so sidecars that
// failed together do not retry in step.
func retryDelay(cooldown time.Duration, failures int) time.Duration {
	d := cooldown
	for i := 1; i < failures && d < 30*time.Second; i++ {
		d *= 2
	}
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// runRepair brings the LRU up to the source's revision. When the feed
// cannot be read it purges the LRU, once per failure episode (failures is
// how many repairs failed in a row before this one) — except when the
// source is unreachable: then no fresher value exists to be had, cached
// values are served marked stale, and the repair is retried.
func (s *Store) runRepair(failures int) bool {
	err := s.repair(context.Background())
	s.recordRepair(err)
	switch {
	case err == nil:
		return true
	case errors.Is(err, flagcache.ErrUnavailable):
		s.log.Warn("tiered: source unreachable; repair postponed, cached values served as stale", "err", err)
		return false
	case failures > 0:
		s.log.Warn("tiered: repair still failing; the LRU was purged when it began", "failures", failures+1, "err", err)
		return false
	}
	s.log.Error("tiered: repair failed; purging the LRU", "err", err)
	s.purge()
	return false
}

// syncFailing is how many repairs must fail in a row for SyncError to
// report it.
const syncFailing = 3

// recordRepair keeps the outcome of a repair for SyncError.
func (s *Store) recordRepair(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.syncFailures, s.syncErr = 0, nil
		return
	}
	s.obs.repairFailures.Add(1)
	s.syncFailures++
	s.syncErr = err
}

// SyncError reports a Store that cannot keep up with its source: nil
// while repairs succeed, else the last error once syncFailing repairs
// failed in a row (for a readiness check; the metric
// flagcache.repair.failures counts every failure).
func (s *Store) SyncError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncFailures < syncFailing {
		return nil
	}
	return fmt.Errorf("tiered: %d repairs from the change feed failed in a row: %w", s.syncFailures, s.syncErr)
}

func (s *Store) purge() {
	s.obs.purges.Add(1)
	s.mu.Lock()
	s.applied = -1
	s.mu.Unlock()
	s.lru.Purge()
}

// repair applies every change after the last applied revision. Without a
// baseline (at start, after a purge) or with a cursor past retention, it
// purges and takes the current revision as the baseline. Each read of the
// feed gets LoadTimeout of its own: a long backlog is many pages, not one
// slow call.
func (s *Store) repair(ctx context.Context) error {
	s.mu.Lock()
	after := s.applied
	s.mu.Unlock()
	if after < 0 {
		return s.rebase(ctx)
	}
	started := s.lru.now()
	from := after
	for {
		feed, err := s.changes(ctx, after)
		s.sourceResult(err)
		if errors.Is(err, flagcache.ErrResyncNeeded) {
			return s.rebase(ctx)
		}
		if err != nil {
			return err
		}
		s.heard(feed.Revision)
		for _, c := range feed.Changes {
			s.applyChange(c)
			after = c.Revision
		}
		if after > from {
			// The feed had writes nobody announced here; their writers may
			// have died before updating Redis too. Once the floors just
			// recorded lapse, a stale Redis entry would be served again:
			// have runRedisRepair replay them (PutIfNewer skips what
			// Redis already has).
			s.redisMayLack(from)
		}
		if len(feed.Changes) > 0 {
			s.changed()
		}
		if len(feed.Changes) < repairPage {
			s.advance(feed.Revision)
			s.lru.confirmed.Store(started)
			s.obs.resyncs.Add(1)
			if len(feed.Changes) > 0 {
				s.obs.repaired.Add(int64(len(feed.Changes)))
			}
			return nil
		}
		s.advance(after)
	}
}

// changes reads one page of the feed, within LoadTimeout.
func (s *Store) changes(ctx context.Context, after int64) (*flagcache.ChangeFeed, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.LoadTimeout)
	defer cancel()
	return s.source.Changes(ctx, after, repairPage)
}

// rebase purges the LRU and reads the whole change feed: every id's
// version as of the source's current revision is announced, and that
// revision becomes the baseline. From then on no copy older than the
// source's version at the applied revision is installed or served,
// whatever Redis holds.
func (s *Store) rebase(ctx context.Context) error {
	if s.lru.Len() > 0 {
		s.obs.purges.Add(1)
	}
	s.lru.Purge() // also refuses fills begun before the baseline
	after := int64(0)
	var feed *flagcache.ChangeFeed
	for {
		var err error
		feed, err = s.changes(ctx, after)
		s.sourceResult(err)
		if err != nil {
			return err
		}
		for _, c := range feed.Changes {
			s.applyChange(c)
			after = c.Revision
		}
		if len(feed.Changes) < repairPage {
			break
		}
	}
	s.heard(feed.Revision)
	s.advance(feed.Revision)
	// A writer killed between its source commit and its Redis update left
	// Redis behind, and nothing announced the write. Replaying the tail of
	// the feed into Redis (PutIfNewer: a no-op where Redis is current)
	// repairs that even when this sidecar restarts alone.
	s.redisMayLack(max(0, feed.Revision-startupReplay))
	return nil
}

// startupReplay is how many of the latest revisions a new baseline
// replays into Redis.
const startupReplay = 1000

// advance records that every change up to rev is applied (and so
// announced).
func (s *Store) advance(rev int64) {
	s.mu.Lock()
	s.applied = max(s.applied, rev)
	s.lru.SetKnown(max(s.lru.Known(), s.applied))
	s.mu.Unlock()
}

// applyChange makes one change from the feed visible locally: announced
// against racing fills, and refreshed where this sidecar caches the id.
func (s *Store) applyChange(c flagcache.Change) {
	if c.Op == flagcache.OpUpsert && c.Flag != nil {
		s.lru.ReplaceIfCached(c.ID, s.newEntry(c.Flag)) // before Announce drops it
	}
	s.lru.Announce(c.ID, c.Version, c.Revision)
	s.group.Forget(string(c.ID))
}

// runRedisRepair writes to Redis the changes it missed while failing.
func (s *Store) runRedisRepair() bool {
	s.mu.Lock()
	since, gen := s.redisSince, s.redisGen
	s.mu.Unlock()
	if since < 0 || s.cache == nil || !s.breaker.allow() {
		return since < 0 || s.cache == nil
	}
	ctx := context.Background()
	after, n, installed := since, 0, 0
	for {
		feed, err := s.changes(ctx, after)
		if errors.Is(err, flagcache.ErrResyncNeeded) {
			after = 0
			continue
		}
		if err != nil {
			s.log.Warn("tiered: redis repair: change feed unreadable", "err", err)
			return false
		}
		for _, c := range feed.Changes {
			cctx, ccancel := context.WithTimeout(ctx, s.opts.CacheTimeout)
			ok, err := s.cache.PutIfNewer(cctx, redisEntry(c))
			ccancel()
			s.redisResult(err)
			if err != nil {
				s.log.Warn("tiered: redis repair interrupted", "err", err)
				return false
			}
			after, n = c.Revision, n+1
			if ok {
				installed++
				s.obs.redisRepaired.Add(1)
				// Redis was behind: other sidecars may have cached what
				// it held. Tell them.
				s.publish(ctx, c)
			}
		}
		if len(feed.Changes) < repairPage {
			break
		}
	}
	s.mu.Lock()
	if s.redisGen == gen {
		s.redisSince = -1
		s.redisBehind.Store(false)
	}
	s.mu.Unlock()
	if installed > 0 {
		s.log.Info("tiered: redis repaired", "changes", n, "installed", installed)
	}
	return true
}

// redisMayLack records that Redis may lack the writes after revision
// after, for runRedisRepair.
func (s *Store) redisMayLack(after int64) {
	if s.cache == nil {
		return
	}
	s.mu.Lock()
	if s.redisSince < 0 || after < s.redisSince {
		s.redisSince = after
	}
	s.redisGen++
	s.redisBehind.Store(true)
	s.mu.Unlock()
}
