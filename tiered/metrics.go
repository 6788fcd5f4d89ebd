package tiered

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const (
	tierLRU = iota
	tierRedis
	numTiers
)

var tierNames = [numTiers]string{"lru", "redis"}

// observer counts with plain atomics on the hot path; OpenTelemetry reads
// them through observable counters at collection time, so a cache hit pays
// one atomic add and no allocation.
type observer struct {
	redisHits      atomic.Int64
	redisMisses    atomic.Int64
	sourceLoads    atomic.Int64
	shared         atomic.Int64
	sent           atomic.Int64
	received       atomic.Int64
	gaps           atomic.Int64
	repaired       atomic.Int64
	purges         atomic.Int64
	staleServed    atomic.Int64
	redisErrors    atomic.Int64
	redisRepaired  atomic.Int64
	resyncs        atomic.Int64
	notified       atomic.Int64
	repairFailures atomic.Int64
	snapshotLoaded atomic.Int64
	snapshotWrites atomic.Int64

	tracer trace.Tracer
}

// Stats is a snapshot of a Store's counters.
type Stats struct {
	LRUHits, LRUMisses     int64
	RedisHits, RedisMisses int64
	SourceLoads            int64 // source reads made by shared loads
	Shared                 int64 // callers that joined another's load
	InvalidationsSent      int64
	InvalidationsReceived  int64
	Gaps                   int64 // gaps detected (re-subscribes, failed pings, revision jumps)
	Repaired               int64 // changes applied from the feed by repairs
	Purges                 int64 // LRU purges
	StaleServed            int64 // reads served from an expired entry while the source was down
	RedisErrors            int64
	RedisRepaired          int64 // writes re-applied to Redis after it missed them
	Resyncs                int64 // successful reads of the whole change feed since the last applied revision
	Notifications          int64 // source commit notifications past the applied revision
	AppliedRevision        int64 // every write up to it is reflected here; -1 none yet
	Current                bool  // AppliedRevision is current: no gap open, repairs not failing
	SourceRevision         int64 // the newest revision heard of (feed, notification, invalidation); -1 none
	BreakerOpen            bool  // Redis is being skipped
	Subscribed             bool  // the invalidation subscription was confirmed once
	RepairFailures         int64 // repairs from the change feed that failed
	SnapshotLoaded         int64 // flags loaded from the snapshot at start
	SnapshotWrites         int64 // snapshots written
	ReadsCut               int64 // source reads cut while stuck on a dead connection, and made again
	LRULen                 int
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	o := s.obs
	lruHits, lruMisses := s.lru.Counts()
	applied, current := s.revisionState()
	return Stats{
		LRUHits: lruHits, LRUMisses: lruMisses,
		RedisHits: o.redisHits.Load(), RedisMisses: o.redisMisses.Load(),
		SourceLoads: o.sourceLoads.Load(), Shared: o.shared.Load(),
		InvalidationsSent: o.sent.Load(), InvalidationsReceived: o.received.Load(),
		Gaps: o.gaps.Load(), Repaired: o.repaired.Load(), Purges: o.purges.Load(),
		StaleServed: o.staleServed.Load(), RedisErrors: o.redisErrors.Load(),
		RedisRepaired: o.redisRepaired.Load(), Resyncs: o.resyncs.Load(), Notifications: o.notified.Load(), RepairFailures: o.repairFailures.Load(),
		LRULen: s.lru.Len(), AppliedRevision: applied, Current: current, SourceRevision: s.sync.sourceRev.Load(), BreakerOpen: s.cache != nil && s.breaker.isOpen(),
		Subscribed:     s.sync.subscribed.Load(),
		SnapshotLoaded: o.snapshotLoaded.Load(), SnapshotWrites: o.snapshotWrites.Load(),
		ReadsCut: s.guard.cutCount(),
	}
}

func newObserver(mp metric.MeterProvider, tp trace.TracerProvider, s *Store) *observer {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	o := &observer{tracer: tp.Tracer("github.com/flagcache/flagcache/tiered")}
	m := mp.Meter("github.com/flagcache/flagcache/tiered")
	counter := func(name, desc string, read func(metric.Int64Observer)) {
		_, err := m.Int64ObservableCounter(name, metric.WithDescription(desc),
			metric.WithInt64Callback(func(_ context.Context, obs metric.Int64Observer) error {
				read(obs)
				return nil
			}))
		if err != nil {
			otel.Handle(err)
		}
	}
	single := func(name, desc string, v *atomic.Int64) {
		counter(name, desc, func(obs metric.Int64Observer) { obs.Observe(v.Load()) })
	}
	perTier := func(name, desc string, read func(Stats) [numTiers]int64) {
		counter(name, desc, func(obs metric.Int64Observer) {
			for i, v := range read(s.Stats()) {
				obs.Observe(v, metric.WithAttributes(attribute.String("tier", tierNames[i])))
			}
		})
	}
	perTier("flagcache.cache.hits", "Reads served by a cache tier.", func(st Stats) [numTiers]int64 {
		return [numTiers]int64{st.LRUHits, st.RedisHits}
	})
	perTier("flagcache.cache.misses", "Reads a cache tier could not serve.", func(st Stats) [numTiers]int64 {
		return [numTiers]int64{st.LRUMisses, st.RedisMisses}
	})
	single("flagcache.source.loads", "Reads that went to the source of truth.", &o.sourceLoads)
	single("flagcache.singleflight.shared", "Reads that joined a load already in flight.", &o.shared)
	single("flagcache.invalidations.sent", "Invalidations published.", &o.sent)
	single("flagcache.invalidations.received", "Invalidations received.", &o.received)
	single("flagcache.invalidation.gaps", "Moments invalidations may have been missed.", &o.gaps)
	single("flagcache.invalidation.repaired", "Changes applied from the change feed by repairs.", &o.repaired)
	single("flagcache.lru.purges", "Purges of the whole LRU.", &o.purges)
	single("flagcache.stale.served", "Reads served stale while the source was unreachable.", &o.staleServed)
	single("flagcache.redis.errors", "Failed Redis calls.", &o.redisErrors)
	single("flagcache.repair.failures", "Repairs from the change feed that failed.", &o.repairFailures)
	single("flagcache.source.notifications", "Source commit notifications that started a repair.", &o.notified)
	single("flagcache.redis.repaired", "Writes re-applied to Redis after it missed them.", &o.redisRepaired)
	counter("flagcache.source.reads_cut", "Source reads cut while stuck on a dead connection (the source answered a probe) and made again.",
		func(obs metric.Int64Observer) { obs.Observe(s.guard.cutCount()) })
	single("flagcache.snapshot.writes", "Snapshots of the cache written to local disk.", &o.snapshotWrites)
	if _, err := m.Int64ObservableGauge("flagcache.snapshot.loaded", metric.WithDescription("Flags loaded from the on-disk snapshot at start (served stale until the source answers)."),
		metric.WithInt64Callback(func(_ context.Context, obs metric.Int64Observer) error {
			obs.Observe(o.snapshotLoaded.Load())
			return nil
		})); err != nil {
		otel.Handle(err)
	}
	if _, err := m.Int64ObservableGauge("flagcache.revision.current", metric.WithDescription("1 while the applied revision is current: no gap open, repairs not failing, the source's notifications heard."),
		metric.WithInt64Callback(func(_ context.Context, obs metric.Int64Observer) error {
			_, current := s.revisionState()
			obs.Observe(map[bool]int64{true: 1}[current])
			return nil
		})); err != nil {
		otel.Handle(err)
	}
	_, err := m.Int64ObservableGauge("flagcache.lru.entries", metric.WithDescription("Flags in the LRU."),
		metric.WithInt64Callback(func(_ context.Context, obs metric.Int64Observer) error {
			obs.Observe(int64(s.lru.Len()))
			return nil
		}))
	if err != nil {
		otel.Handle(err)
	}
	return o
}
