package tiered

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/invalidation"
)

// syncer keeps a Store's caches in step with its source: it tracks the
// applied revision (every change at or below it is reflected locally),
// takes invalidations, source notifications and the periodic resync, and
// repairs what they missed from the change feed — rebasing when it has no
// baseline, replaying into Redis what Redis missed. It has its own lock;
// the Store's read and write paths take it only to ask whether fills may
// be cached.
type syncer struct {
	s *Store // the caches it keeps in step and the source they follow

	sourceRev   atomic.Int64 // the newest revision heard of; -1 none
	redisBehind atomic.Bool  // redisSince >= 0
	subscribed  atomic.Bool  // the invalidation subscription was confirmed
	// deaf: the source notifies commits (a RevisionWatcher) and is not
	// being listened to, so writes nobody announces go unheard.
	deaf atomic.Bool

	mu         sync.Mutex
	applied    int64 // every revision ≤ applied is reflected locally; -1 unknown
	redisSince int64 // Redis may lack writes after this revision; -1 none
	redisGen   int64 // counts Redis write failures, so a repair knows it saw them all
	// gaps counts the gaps reported; repaired is its value when the last
	// successful repair began.
	gaps, repaired int64
	// failures repairs failed in a row, the last with err.
	failures int
	err      error
	sub      *invalidation.Subscriber
	closed   bool // close began: a late subscription is closed at once
	// recheck runs writeUnknown's second look, LoadTimeout after a write
	// whose outcome is unknown; close stops it.
	recheck *time.Timer

	repairCh chan struct{}
	redisCh  chan struct{}
	stop     chan struct{}
	cancel   context.CancelFunc // ends the background work's context
	wg       sync.WaitGroup
}

const (
	// repairPage is how many changes a repair reads per call.
	repairPage = 1000
	// startupReplay is how many of the latest revisions a new baseline
	// replays into Redis.
	startupReplay = 1000
	// syncFailing is how many repairs must fail in a row for SyncError to
	// report it.
	syncFailing = 3
	// Bounds of the pause between attempts to subscribe, or to listen to
	// the source's notifications, again. Listening is retried at least
	// once a second: the notifications are what tells a sidecar of plain
	// SQL writes (and of every write while pub/sub is down), so after
	// the source comes back a sidecar must hear it within the 1 s a
	// foreign write is promised in, not after a backoff grown during a
	// long outage.
	retryMinBackoff  = 100 * time.Millisecond
	retryMaxBackoff  = 10 * time.Second
	listenMaxBackoff = time.Second
	// deafPoll is how often the feed is read while the source's
	// notifications are not heard.
	deafPoll = 500 * time.Millisecond
	// subscribeTimeout bounds one attempt to subscribe.
	subscribeTimeout = 5 * time.Second
)

func newSyncer(s *Store) *syncer {
	sy := &syncer{
		s:          s,
		applied:    -1,
		redisSince: -1,
		repairCh:   make(chan struct{}, 1),
		redisCh:    make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	sy.sourceRev.Store(-1)
	return sy
}

// start takes the baseline revision now if the source answers, so the LRU
// works from the first read (otherwise the repair loop keeps trying), then
// starts the background work: repairs, source notifications, the
// invalidation subscription.
func (sy *syncer) start() {
	ctx, cancel := context.WithTimeout(context.Background(), sy.s.opts.LoadTimeout)
	sy.repair(ctx)
	cancel()
	sy.wg.Add(1)
	go sy.repairLoop()
	bg, cancelBg := context.WithCancel(context.Background())
	sy.cancel = cancelBg
	if w, ok := sy.s.raw.(RevisionWatcher); ok {
		sy.deaf.Store(true)
		sy.wg.Add(1)
		go sy.watchSource(bg, w)
	}
	sy.startSubscription(bg)
}

// close stops the background work and the subscription.
func (sy *syncer) close() error {
	close(sy.stop)
	sy.cancel()
	sy.mu.Lock()
	sy.closed = true
	sub := sy.sub
	if sy.recheck != nil {
		sy.recheck.Stop()
	}
	sy.mu.Unlock()
	var err error
	if sub != nil {
		err = sub.Close()
	}
	sy.wg.Wait()
	return err
}

// revisionState returns the applied revision and whether it is current:
// a baseline is known, no gap is open (none reported since the last
// successful repair began, no revision heard past the applied one),
// repairs are not failing, and the source's notifications, if it has
// them, are being listened to.
func (sy *syncer) revisionState() (applied int64, current bool) {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	current = sy.applied >= 0 && sy.gaps == sy.repaired && sy.failures == 0 && sy.sourceRev.Load() <= sy.applied && !sy.deaf.Load()
	return sy.applied, current
}

// revisionState returns the applied revision and whether it is current
// (see syncer.revisionState): a result computed at it may be served as
// the source's answer.
func (s *Store) revisionState() (applied int64, current bool) { return s.sync.revisionState() }

// appliedRevision returns the applied revision, -1 without a baseline.
func (sy *syncer) appliedRevision() int64 {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	return sy.applied
}

// handler adapts the syncer to invalidation.Handler.
type handler struct{ sy *syncer }

func (h handler) Invalidate(m invalidation.Message) { h.sy.invalidate(m) }

func (h handler) Gap(reason string) {
	h.sy.s.log.Warn("tiered: invalidations may have been missed; repairing from the change feed", "reason", reason)
	h.sy.gap()
}

// gap records that changes may have been missed and starts a repair.
// writeUnknown is told of a write whose outcome is unknown: the source
// failed or timed out after the write may have been sent, so it may have
// committed with its answer lost — and then nothing put it into Redis or
// announced it, and a sidecar not listening to the source (its LISTEN in
// a reconnect backoff, or none) would serve the old value until a resync.
// So the feed after the applied revision is replayed into Redis as for a
// failed Redis write (runRedisRepair installs what Redis lacks and
// announces it to every sidecar), now and again LoadTimeout later, for a
// commit that lands after its caller gave up; without Redis the local
// caches repair. Replaying what is already there costs a feed read.
func (sy *syncer) writeUnknown() {
	after := sy.appliedRevision()
	if after < 0 {
		return
	}
	look := func() {
		if sy.s.cache == nil {
			sy.gap()
			return
		}
		sy.redisMayLack(after)
		kick(sy.redisCh)
	}
	look()
	sy.mu.Lock()
	defer sy.mu.Unlock()
	if sy.closed {
		return
	}
	if sy.recheck != nil {
		sy.recheck.Stop()
	}
	sy.recheck = time.AfterFunc(sy.s.opts.LoadTimeout, look)
}

func (sy *syncer) gap() {
	sy.s.obs.gaps.Add(1)
	sy.mu.Lock()
	sy.gaps++
	sy.mu.Unlock()
	kick(sy.repairCh)
}

// invalidate applies one message: older copies go, the version is
// remembered against racing fills, and a revision jump starts a repair.
// A sidecar's own messages come back to it: already applied, they change
// nothing.
func (sy *syncer) invalidate(m invalidation.Message) {
	s := sy.s
	s.lru.Announce(m.ID, m.Version, m.Revision)
	s.group.Forget(string(m.ID))
	s.obs.received.Add(1) // counted once applied: a reader of Stats may rely on it
	sy.appliedOne(m.Revision)
	if m.Origin != s.opts.Origin {
		s.changed()
	}
}

// appliedOne records that the change at rev is applied locally: the next
// revision advances the applied one; a later one is a jump, repaired from
// the feed.
func (sy *syncer) appliedOne(rev int64) {
	sy.heard(rev)
	sy.mu.Lock()
	jump := sy.applied >= 0 && rev > sy.applied+1
	if sy.applied >= 0 && rev == sy.applied+1 {
		sy.applied = rev
		sy.s.lru.SetKnown(rev)
	}
	sy.mu.Unlock()
	if jump {
		sy.gap()
	}
}

// repairLoop runs repairs one at a time: on request, periodically (for
// writes nobody announced), and again after a failure.
func (sy *syncer) repairLoop() {
	defer sy.wg.Done()
	var tick <-chan time.Time
	if sy.s.opts.ResyncInterval > 0 {
		t := time.NewTicker(sy.s.opts.ResyncInterval)
		defer t.Stop()
		tick = t.C
	}
	kick(sy.repairCh) // establish the baseline revision
	var retry <-chan time.Time
	failures := 0 // repairs failed in a row: the failure episode
	for {
		// While the source's notifications are not heard (deaf), the feed
		// is polled instead: a plain SQL write is then served within
		// deafPoll however long listening again takes (a dial into a
		// black hole waits out its timeout, then the backoff). Losing the
		// listen kicks this loop, so the poll starts at once; a store
		// that listens sets no timer for it.
		var poll <-chan time.Time
		if sy.deaf.Load() {
			poll = time.After(deafPoll)
		}
		select {
		case <-sy.stop:
			return
		case <-sy.repairCh:
		case <-sy.redisCh:
		case <-tick:
		case <-retry:
		case <-poll:
		}
		retry = nil
		ok := sy.runRepair(failures)
		if ok {
			failures = 0
		} else {
			failures++
		}
		if !ok || !sy.runRedisRepair() {
			retry = time.After(retryDelay(sy.s.opts.BreakerCooldown, failures))
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
// values are served marked stale, and the repair is retried. (A feed read
// stuck on a dead connection is cut and made again by the guard, not
// failed.)
func (sy *syncer) runRepair(failures int) bool {
	log := sy.s.log
	err := sy.repair(context.Background())
	sy.recordRepair(err)
	switch {
	case err == nil:
		return true
	case errors.Is(err, flagcache.ErrUnavailable):
		if failures&(failures+1) == 0 { // the 1st, 2nd, 4th, 8th… of an outage
			log.Warn("tiered: source unreachable; repair postponed, cached values served as stale", "failures", failures+1, "err", err)
		}
		return false
	case failures > 0:
		log.Warn("tiered: repair still failing; the LRU was purged when it began", "failures", failures+1, "err", err)
		return false
	}
	log.Error("tiered: repair failed; purging the LRU", "err", err)
	sy.purge()
	return false
}

// recordRepair keeps the outcome of a repair for SyncError.
func (sy *syncer) recordRepair(err error) {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	if err == nil {
		sy.failures, sy.err = 0, nil
		return
	}
	sy.s.obs.repairFailures.Add(1)
	sy.failures++
	sy.err = err
}

// syncError is Store.SyncError.
func (sy *syncer) syncError() error {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	if sy.failures < syncFailing {
		return nil
	}
	return fmt.Errorf("tiered: %d repairs from the change feed failed in a row: %w", sy.failures, sy.err)
}

func (sy *syncer) purge() {
	sy.s.obs.purges.Add(1)
	sy.mu.Lock()
	sy.applied = -1
	sy.mu.Unlock()
	sy.s.lru.Purge()
}

// repair applies every change after the last applied revision. Without a
// baseline (at start, after a purge) or with a cursor past retention, it
// rebases. Each read of the feed gets LoadTimeout of its own: a long
// backlog is many pages, not one slow call.
func (sy *syncer) repair(ctx context.Context) error {
	s := sy.s
	sy.mu.Lock()
	after, gaps := sy.applied, sy.gaps
	sy.mu.Unlock()
	if after < 0 {
		return sy.rebase(ctx, gaps)
	}
	started := s.lru.now()
	from := after
	for {
		feed, err := sy.changes(ctx, after)
		if errors.Is(err, flagcache.ErrResyncNeeded) {
			// Changes were missed for good: what is cached goes now,
			// whether or not the rebase gets through.
			sy.purge()
			return sy.rebase(ctx, gaps)
		}
		if err != nil {
			return err
		}
		sy.heard(feed.Revision)
		for _, c := range feed.Changes {
			s.applyChange(c)
			after = c.Revision
		}
		if after > from {
			// The feed had writes nobody announced here; their writers may
			// have died before updating Redis too: have runRedisRepair
			// replay them (PutIfNewer skips what Redis already has).
			sy.redisMayLack(from)
		}
		if len(feed.Changes) > 0 {
			s.obs.repaired.Add(int64(len(feed.Changes)))
			s.changed()
		}
		if len(feed.Changes) < repairPage {
			sy.advance(feed.Revision, gaps)
			s.lru.confirmed.Store(started)
			s.obs.resyncs.Add(1)
			return nil
		}
		sy.advance(after, -1)
	}
}

// changes reads one page of the feed, within LoadTimeout: a source that
// does not answer in that long is unavailable (the repair is postponed,
// the LRU kept and served stale), not failing (which purges it).
func (sy *syncer) changes(ctx context.Context, after int64) (*flagcache.ChangeFeed, error) {
	return bounded(sy.s, ctx, func(ctx context.Context) (*flagcache.ChangeFeed, error) {
		return sy.s.source.Changes(ctx, after, repairPage)
	})
}

// rebase purges the LRU and reads the whole change feed: every id's
// version as of the source's current revision is announced, and that
// revision becomes the baseline. From then on no copy older than the
// source's version at the applied revision is installed or served,
// whatever Redis holds. The LRU is purged once the feed answers, not
// before: while the source is down, what it holds (a snapshot's flags)
// is still served, as stale.
func (sy *syncer) rebase(ctx context.Context, gaps int64) error {
	s := sy.s
	feed, err := sy.changes(ctx, 0)
	if err != nil {
		return err
	}
	if s.lru.Len() > 0 {
		s.obs.purges.Add(1)
	}
	s.lru.Purge() // also refuses fills begun before the baseline
	for {
		for _, c := range feed.Changes {
			s.applyChange(c)
		}
		if len(feed.Changes) < repairPage {
			break
		}
		if feed, err = sy.changes(ctx, feed.Changes[len(feed.Changes)-1].Revision); err != nil {
			return err
		}
	}
	sy.heard(feed.Revision)
	sy.advance(feed.Revision, gaps)
	s.changed()
	// A writer killed between its source commit and its Redis update left
	// Redis behind, and nothing announced the write. Replaying the tail of
	// the feed into Redis (PutIfNewer: a no-op where Redis is current)
	// repairs that even when this sidecar restarts alone.
	sy.redisMayLack(max(0, feed.Revision-startupReplay))
	return nil
}

// advance records that every change up to rev is applied (and so
// announced), and, for a repair that read the feed to its end (gaps ≥ 0:
// the gap count when it began), that the gaps reported before it are
// repaired.
func (sy *syncer) advance(rev, gaps int64) {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	sy.applied = max(sy.applied, rev)
	sy.s.lru.SetKnown(max(sy.s.lru.Known(), sy.applied))
	if gaps >= 0 {
		sy.repaired = max(sy.repaired, gaps)
	}
}

// runRedisRepair writes to Redis the changes it missed while failing.
func (sy *syncer) runRedisRepair() bool {
	s := sy.s
	sy.mu.Lock()
	since, gen := sy.redisSince, sy.redisGen
	sy.mu.Unlock()
	if since < 0 || s.cache == nil || !s.breaker.allow() {
		return since < 0 || s.cache == nil
	}
	ctx := context.Background()
	after, n, installed := since, 0, 0
	for {
		feed, err := sy.changes(ctx, after)
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
	sy.mu.Lock()
	if sy.redisGen == gen {
		sy.redisSince = -1
		sy.redisBehind.Store(false)
	}
	sy.mu.Unlock()
	if installed > 0 {
		s.log.Info("tiered: redis repaired", "changes", n, "installed", installed)
	}
	return true
}

// redisMayLack records that Redis may lack the writes after revision
// after, for runRedisRepair.
func (sy *syncer) redisMayLack(after int64) {
	if sy.s.cache == nil {
		return
	}
	sy.mu.Lock()
	if sy.redisSince < 0 || after < sy.redisSince {
		sy.redisSince = after
	}
	sy.redisGen++
	sy.redisBehind.Store(true)
	sy.mu.Unlock()
}

// redisAnswered starts the Redis repair if Redis is behind.
func (sy *syncer) redisAnswered() {
	if sy.redisBehind.Load() {
		kick(sy.redisCh)
	}
}

// watchSource listens to the source's commit notifications until ctx
// ends, listening again with jittered backoff when the connection is lost.
//
// While it is not listening (deaf), writes nobody else announces (plain
// SQL) go unheard, so the applied revision is not current: from the start,
// or from a loss, until a repair that begins after listening (re)started.
// The first notification of every listen (the source's revision as it
// starts) reports a gap, which starts that repair.
func (sy *syncer) watchSource(ctx context.Context, w RevisionWatcher) {
	defer sy.wg.Done()
	sy.keepTrying(ctx, "source notifications lost", listenMaxBackoff, func(ctx context.Context) error {
		listening, began := false, time.Now()
		err := w.WatchRevisions(ctx, func(rev int64) {
			if !listening {
				listening = true
				sy.heard(rev)
				// The source answered a connection made now: a read
				// waiting since before on a dead one is cut.
				sy.s.guard.answered(began, time.Since(began))
				sy.gap() // before deaf clears: current only after a repair from here
				sy.deaf.Store(false)
				return
			}
			sy.sourceRevision(rev)
		})
		sy.deaf.Store(true)
		kick(sy.repairCh) // the poll while deaf starts with this repair
		if ctx.Err() != nil {
			return err
		}
		if err != nil {
			return err
		}
		return errors.New("tiered: the source stopped notifying")
	})
}

// sourceRevision takes one notification: a revision past the applied one
// starts a repair (coalesced with one already pending).
func (sy *syncer) sourceRevision(rev int64) {
	sy.heard(rev)
	sy.mu.Lock()
	behind := sy.applied < 0 || rev > sy.applied
	sy.mu.Unlock()
	if behind {
		sy.s.obs.notified.Add(1)
		kick(sy.repairCh)
	}
}

// heard records that the source has reached revision rev.
func (sy *syncer) heard(rev int64) {
	for {
		cur := sy.sourceRev.Load()
		if rev <= cur || sy.sourceRev.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// startSubscription subscribes to the invalidations: once now, so a Store
// on a Redis that answers hears every write announced after New returns,
// and otherwise in the background until it works. Once subscribed, the
// subscriber re-subscribes by itself (every re-subscription is a gap).
func (sy *syncer) startSubscription(ctx context.Context) {
	r := sy.s.opts.Redis
	if r.Client == nil {
		return
	}
	first, cancel := context.WithTimeout(ctx, subscribeTimeout)
	err := sy.subscribe(first)
	cancel()
	if err == nil {
		return
	}
	sy.s.log.Warn("tiered: cannot subscribe to invalidations yet; retrying", "channel", r.Channel, "err", err)
	sy.wg.Add(1)
	go func() {
		defer sy.wg.Done()
		sy.keepTrying(ctx, "subscribing to invalidations failed", retryMaxBackoff, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
			defer cancel()
			return sy.subscribe(ctx)
		})
	}()
}

// subscribe makes one attempt to subscribe.
func (sy *syncer) subscribe(ctx context.Context) error {
	r := sy.s.opts.Redis
	sub, err := invalidation.Subscribe(ctx, r.Client, handler{sy}, invalidation.SubscriberOptions{
		Channel: r.Channel, Sharded: r.Sharded, HealthInterval: r.HealthInterval,
	})
	if err != nil {
		return err
	}
	sy.mu.Lock()
	closed := sy.closed
	if !closed {
		sy.sub = sub
	}
	sy.mu.Unlock()
	if closed {
		sub.Close()
		return nil
	}
	sy.subscribed.Store(true)
	// Writes committed before the subscription was confirmed were not
	// heard: catch up from the feed.
	kick(sy.repairCh)
	return nil
}

// keepTrying calls attempt until it returns nil or ctx ends, pausing
// between failures with full jitter (so sidecars that lost the same server
// do not return in step), from retryMinBackoff doubling to maxBackoff;
// an attempt that lasted longer than that (it worked a while) starts the
// pauses again from the minimum.
func (sy *syncer) keepTrying(ctx context.Context, what string, maxBackoff time.Duration, attempt func(context.Context) error) {
	backoff := retryMinBackoff
	for {
		started := time.Now()
		err := attempt(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		if time.Since(started) > maxBackoff {
			backoff = retryMinBackoff
		}
		pause := rand.N(backoff) + time.Millisecond
		sy.s.log.Warn("tiered: "+what+"; trying again", "err", err, "retry_in", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// kick sends on a channel of one pending signal without blocking.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
