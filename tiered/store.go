package tiered

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/vcache"
	"github.com/flagcache/flagcache/invalidation"
	"github.com/flagcache/flagcache/rediskv"
)

var (
	_ flagcache.Store              = (*Store)(nil)
	_ flagcache.HitReader          = (*Store)(nil)
	_ flagcache.ModifiedSincePager = (*Store)(nil)
)

// Options configure a Store. Zero values are the documented defaults.
type Options struct {
	// Redis is the shared cache tier and the invalidation bus; without a
	// client the Store runs LRU → source only.
	Redis RedisOptions
	// Origin names this sidecar in invalidations; default random.
	Origin string

	// LRUSize is the number of flags kept in process; default 10,000.
	LRUSize int
	// LRUShards; default a power of two near 8 × GOMAXPROCS.
	LRUShards int
	// LRUTTL bounds how long a cached flag is served without news;
	// default 60s.
	LRUTTL time.Duration
	// NegativeTTL is how long "not found" is cached; default 5s.
	NegativeTTL time.Duration
	// LoadTimeout bounds a shared load (Redis + source); default 5s.
	LoadTimeout time.Duration
	// CacheTimeout bounds each Redis call; default 100ms. The client
	// should also have short dial/read/write timeouts.
	CacheTimeout time.Duration
	// MaxVersions bounds how many ids' newest versions are remembered
	// (against racing fills and a Redis that moved backwards); default
	// max(4 × LRUSize, 100,000). Past it, the least recently written ids'
	// Redis copies are checked at the source.
	MaxVersions int
	// ResyncInterval: how often the change feed is checked for writes no
	// invalidation announced; default 30s, negative disables.
	ResyncInterval time.Duration

	// CollectionBytes and CollectionEntries bound the collection cache
	// (results of List, Count, ModifiedSince and change-feed pages at the
	// applied revision, see collections.go): estimated bytes, default
	// 64 MiB, and results, default 1024. Negative disables it.
	CollectionBytes   int64
	CollectionEntries int

	// SnapshotPath, when set, is a file where the store keeps the flags
	// of its LRU, so that a restart while the source and Redis are both
	// down still serves them, marked stale, until the source answers (then
	// the change feed replaces them). Written in the background by atomic
	// rename, loaded by New. Empty: no snapshot.
	SnapshotPath string
	// SnapshotInterval: how often the snapshot is written when something
	// changed (and once at Close); default 30s.
	SnapshotInterval time.Duration
	// SnapshotMaxBytes bounds the snapshot; flags past it are left out.
	// Default 64 MiB.
	SnapshotMaxBytes int

	// Breaker opens after BreakerFailures consecutive Redis failures
	// (default 3) and lets a probe through after BreakerCooldown
	// (default 1s).
	BreakerFailures int
	BreakerCooldown time.Duration

	MeterProvider  metric.MeterProvider // default otel's global
	TracerProvider trace.TracerProvider // default otel's global
	Logger         *slog.Logger         // default slog.Default()
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.LRUSize <= 0 {
		o.LRUSize = 10_000
	}
	def(&o.LRUTTL, 60*time.Second)
	def(&o.NegativeTTL, 5*time.Second)
	def(&o.LoadTimeout, 5*time.Second)
	def(&o.CacheTimeout, 100*time.Millisecond)
	def(&o.ResyncInterval, 30*time.Second)
	def(&o.BreakerCooldown, time.Second)
	if o.CollectionBytes == 0 {
		o.CollectionBytes = DefaultCollectionBytes
	}
	if o.CollectionEntries == 0 {
		o.CollectionEntries = DefaultCollectionEntries
	}
	def(&o.SnapshotInterval, 30*time.Second)
	if o.SnapshotMaxBytes <= 0 {
		o.SnapshotMaxBytes = 64 << 20
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 3
	}
	if o.Origin == "" {
		b := make([]byte, 8)
		rand.Read(b)
		o.Origin = hex.EncodeToString(b)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store is the tiered flagcache.Store. Create it with New and Close it.
type Store struct {
	// source is raw as the Store calls it: its reads under guard, when
	// raw is a Prober (guard nil and source raw otherwise). Optional
	// interfaces (RevisionWatcher, Compactor) are asked of raw.
	source  flagcache.Store
	raw     flagcache.Store
	guard   *guard
	cache   *rediskv.Cache
	pub     *invalidation.Publisher
	opts    Options
	lru     *lru
	colls   *collections
	group   singleflight.Group
	breaker *breaker
	log     *slog.Logger
	obs     *observer
	clock   *coarseClock

	sync     *syncer // keeps the caches in step with the source
	onChange atomic.Pointer[func()]
	// sourceDown: the last source call failed as unavailable.
	sourceDown atomic.Bool
	closeOnce  sync.Once

	// beforeInstall, when set by tests, runs in a shared load after the
	// source read and before the result is installed.
	beforeInstall func(id flagcache.ID)
}

// New returns a Store over source. With a Redis client it subscribes to
// the invalidations before it returns if Redis answers, and otherwise
// keeps trying in the background (the periodic resync bounds staleness
// meanwhile).
func New(source flagcache.Store, opts Options) *Store {
	opts.setDefaults()
	g := newGuard(source)
	guardedSrc := source
	if g != nil {
		guardedSrc = guardedSource{Store: source, g: g}
	}
	s := &Store{
		source:  guardedSrc,
		raw:     source,
		guard:   g,
		opts:    opts,
		lru:     newLRU(opts.LRUSize, opts.LRUShards, opts.MaxVersions, opts.LRUTTL),
		breaker: newBreaker(opts.BreakerFailures, opts.BreakerCooldown),
		colls:   newCollections(opts.CollectionBytes, opts.CollectionEntries),
		log:     opts.Logger,
	}
	s.openRedis(opts.Redis, opts.Logger)
	s.clock = newCoarseClock(clockResolution)
	s.lru.now = s.clock.now
	s.obs = newObserver(opts.MeterProvider, opts.TracerProvider, s)
	s.sync = newSyncer(s)
	s.loadSnapshot()
	s.sync.start()
	if opts.SnapshotPath != "" {
		s.sync.wg.Add(1)
		go s.snapshotLoop()
	}
	return s
}

// Close stops the background work and the subscription. It does not close
// the source or the Redis client. Calls after the first return nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = s.sync.close()
		s.guard.close()
		s.clock.close()
	})
	return err
}

// SyncError reports a Store that cannot keep up with its source: nil
// while repairs succeed, else the last error once 3 repairs failed in a
// row (for a readiness check; the metric flagcache.repair.failures counts
// every failure).
func (s *Store) SyncError() error { return s.sync.syncError() }

// OnChange registers f to be called (without locks held) each time the
// store applies changes, whatever their origin — e.g. to wake watch
// streams. f must not block. A later call replaces f.
func (s *Store) OnChange(f func()) { s.onChange.Store(&f) }

func (s *Store) changed() {
	if f := s.onChange.Load(); f != nil {
		(*f)()
	}
}

// Get implements flagcache.Store. The returned value is shared with the
// cache: do not modify it.
func (s *Store) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	h, err := s.GetHit(ctx, id)
	return h.Stored, err
}

// GetHit implements flagcache.HitReader: Get, saying which tier served.
func (s *Store) GetHit(ctx context.Context, id flagcache.ID) (flagcache.Hit, error) {
	e, tier, stale, err := s.lookup(ctx, id)
	if err != nil {
		return flagcache.Hit{Tier: tier}, err
	}
	st, err := e.stored()
	if err != nil {
		return flagcache.Hit{}, err
	}
	return flagcache.Hit{Stored: st, Body: e.body, Tier: tier, Stale: stale}, nil
}

// GetEncoded implements flagcache.EncodedReader: the cached bytes of a
// flag, decoding nothing (the HTTP API's GET).
func (s *Store) GetEncoded(ctx context.Context, id flagcache.ID) (flagcache.Encoded, error) {
	e, tier, stale, err := s.lookup(ctx, id)
	if err != nil {
		return flagcache.Encoded{Tier: tier}, err
	}
	return e.encoded(tier, stale), nil
}

// lookup returns the entry of a flag (never a negative one: that is
// ErrNotFound), the tier that served it and whether it is stale.
func (s *Store) lookup(ctx context.Context, id flagcache.ID) (*entry, flagcache.Tier, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", false, err
	}
	if e, ok := s.lru.get(id); ok {
		return s.hit(e, flagcache.TierLRU)
	}
	if err := id.Validate(); err != nil {
		return nil, "", false, err
	}
	return s.load(ctx, id)
}

func (s *Store) hit(e *entry, tier flagcache.Tier) (*entry, flagcache.Tier, bool, error) {
	if e.negative() {
		return nil, tier, false, flagcache.ErrNotFound
	}
	return e, tier, e.unchecked || s.sourceDown.Load(), nil
}

// loaded is what a shared load hands to every caller waiting on it.
type loaded struct {
	e    *entry
	tier flagcache.Tier
}

// load collapses concurrent misses of id into one shared load. The caller
// waits with its own context. A result older than a version announced
// meanwhile is never returned: the load is retried instead.
func (s *Store) load(ctx context.Context, id flagcache.ID) (*entry, flagcache.Tier, bool, error) {
	for attempt := 0; ; attempt++ {
		ch := s.group.DoChan(string(id), func() (any, error) { return s.loadShared(id) })
		var r singleflight.Result
		select {
		case r = <-ch:
		case <-ctx.Done():
			return nil, "", false, ctx.Err()
		}
		if r.Shared {
			s.obs.shared.Add(1)
		}
		if r.Err != nil {
			return s.loadFailed(id, r.Err)
		}
		l := r.Val.(loaded)
		if l.e.version < s.lru.Floor(id) && attempt < 3 {
			s.group.Forget(string(id))
			continue
		}
		return s.hit(l.e, l.tier)
	}
}

// loadFailed serves a cached copy, even an expired one, when the source is
// unreachable: a stale value beats none for a flag store.
func (s *Store) loadFailed(id flagcache.ID, err error) (*entry, flagcache.Tier, bool, error) {
	if errors.Is(err, flagcache.ErrUnavailable) {
		if e, ok := s.lru.Peek(id); ok && !e.negative() && e.version >= s.lru.Floor(id) {
			s.obs.staleServed.Add(1)
			return e, flagcache.TierLRU, true, nil
		}
	}
	return nil, "", false, err
}

// loadShared runs once per id at a time, on a detached context.
func (s *Store) loadShared(id flagcache.ID) (any, error) {
	if e, ok := s.lru.get(id); ok { // filled while we queued
		return loaded{e, flagcache.TierLRU}, nil
	}
	tok, trusted := s.fillToken()
	floor := s.lru.Floor(id) // before the reads: what they are at least as new as
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.LoadTimeout)
	defer cancel()
	ctx, span := s.obs.tracer.Start(ctx, "tiered.load", trace.WithAttributes(attribute.String("flag.id", string(id))))
	defer span.End()

	e, ok, redisFailed := s.fromRedis(ctx, id)
	if ok {
		span.SetAttributes(attribute.String("tier", string(flagcache.TierRedis)))
		if trusted {
			s.lru.Install(tok, id, e)
		}
		return loaded{e, flagcache.TierRedis}, nil
	}
	span.SetAttributes(attribute.String("tier", string(flagcache.TierSource)))
	e, st, err := s.fromSource(ctx, id, floor)
	if err != nil {
		span.RecordError(err)
		return nil, err
	}
	if s.beforeInstall != nil {
		s.beforeInstall(id)
	}
	if !e.negative() && !redisFailed { // a Redis that just failed is not waited on twice
		s.fillRedis(ctx, rediskv.Entry{ID: id, Version: e.version, Flag: st})
	}
	if trusted {
		s.lru.Install(tok, id, e)
	}
	return loaded{e, flagcache.TierSource}, nil
}

// fromRedis returns the Redis copy of id when Redis answers, has one, and
// the versions this store knows vouch for it (Redis may have moved
// backwards: a restart from an old snapshot, a lagging replica promoted, an
// eviction and a slow fill); failed reports a Redis error.
func (s *Store) fromRedis(ctx context.Context, id flagcache.ID) (e *entry, ok, failed bool) {
	if s.cache == nil || !s.breaker.allow() {
		return nil, false, s.cache != nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.CacheTimeout)
	defer cancel()
	ce, ok, err := s.cache.Get(ctx, id)
	s.redisResult(err)
	if err != nil || !ok || !s.lru.Accepts(id, ce.Version, entryRevision(ce)) {
		s.obs.redisMisses.Add(1)
		return nil, false, err != nil
	}
	s.obs.redisHits.Add(1)
	if ce.Deleted || ce.Flag == nil {
		return s.negativeEntry(ce.Version), true, false
	}
	return s.newEntry(ce.Flag), true, false
}

// fromSource reads id from the source of truth. A "not found" is at least
// as new as every version announced before the read (floor): a flag the
// source no longer has was deleted after them, so the negative entry takes
// that version and is not refused as older. st is the flag read (nil for
// a negative entry), for Redis.
func (s *Store) fromSource(ctx context.Context, id flagcache.ID, floor int64) (e *entry, st *flagcache.Stored, err error) {
	s.obs.sourceLoads.Add(1)
	st, err = s.source.Get(ctx, id)
	s.sourceResult(err)
	switch {
	case err == nil:
		// Known from now on: Redis copies older than it are refused.
		s.lru.Announce(id, st.Version, st.Revision)
		return s.newEntry(st), st, nil
	case errors.Is(err, flagcache.ErrNotFound):
		return s.negativeEntry(floor), nil, nil
	}
	return nil, nil, err
}

// fillRedis writes a source read to Redis; failures only count against
// the breaker.
func (s *Store) fillRedis(ctx context.Context, ce rediskv.Entry) {
	if s.cache == nil || !s.breaker.allow() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.CacheTimeout)
	defer cancel()
	_, err := s.cache.PutIfNewer(ctx, ce)
	s.redisResult(err)
}

// entryRevision is the revision a Redis entry was written at; 0 for a
// tombstone, which does not carry it.
func entryRevision(ce rediskv.Entry) int64 {
	if ce.Flag == nil {
		return 0
	}
	return ce.Flag.Revision
}

// newEntry caches st as its JSON, in a slice of its own size (the
// encoding is built in a pooled buffer, then copied once); st itself is
// not kept (see entry).
func (s *Store) newEntry(st *flagcache.Stored) *entry {
	buf := encodeBuffers.Get().(*[]byte)
	*buf = st.AppendJSON((*buf)[:0]) // as stored: never refused for its nesting
	e := &entry{body: bytes.Clone(*buf), etag: st.ETag, version: st.Version, malformed: st.Malformed != "",
		expires: s.lru.now() + int64(s.opts.LRUTTL)}
	if cap(*buf) <= maxPooledBuffer {
		encodeBuffers.Put(buf)
	}
	if e.etag == "" {
		e.etag = flagcache.ETag(st.Version)
	}
	return e
}

// encodeBuffers are the buffers newEntry encodes in; one above
// maxPooledBuffer (a flag of a MiB) is left to the GC.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBuffer = 64 << 10

func (s *Store) negativeEntry(version int64) *entry {
	return &entry{version: version, expires: s.lru.now() + int64(s.opts.NegativeTTL)}
}

// fillToken returns the LRU token of a fill starting now and whether fills
// may be cached at all: not while there is no baseline revision (at start,
// after a purge), since a missed invalidation could not then be detected.
func (s *Store) fillToken() (vcache.Token, bool) {
	tok := s.lru.Begin()
	return tok, s.sync.appliedRevision() >= 0
}

// sourceResult tracks whether the source answers, for the stale marker.
func (s *Store) sourceResult(err error) {
	s.sourceDown.Store(errors.Is(err, flagcache.ErrUnavailable))
}

// redisResult feeds the breaker; when Redis answers again after failing,
// the writes it missed are repaired.
func (s *Store) redisResult(err error) {
	if err != nil && errors.Is(err, context.Canceled) {
		return
	}
	if s.breaker.record(err == nil) {
		s.log.Info("tiered: redis answers again")
	}
	if err == nil {
		s.sync.redisAnswered()
	}
	if err != nil {
		s.obs.redisErrors.Add(1)
	}
}

// Exists implements flagcache.Store through Get, so it is cached too.
func (s *Store) Exists(ctx context.Context, id flagcache.ID) (bool, error) {
	_, err := s.Get(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, flagcache.ErrNotFound):
		return false, nil
	}
	return false, err
}

// List, Count and ModifiedSince are served from the collection cache
// while it is current (collections.go), else from the source; Changes
// goes to the source (the watch streams poll it for writes nobody
// announced; ReadChanges is the cached form). A source call is bounded by
// LoadTimeout: a source that stops answering (a half-open connection)
// fails it as unavailable instead of hanging it.

// List implements flagcache.Store.
func (s *Store) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	return s.listFromMemory(ctx, q)
}

// Count implements flagcache.Store.
func (s *Store) Count(ctx context.Context, q flagcache.Query) (int, error) {
	return s.countFromMemory(ctx, q)
}

// ModifiedSince implements flagcache.Store.
func (s *Store) ModifiedSince(ctx context.Context, t time.Time) ([]*flagcache.Stored, error) {
	return s.modifiedFromMemory(ctx, t)
}

// ModifiedSincePage implements flagcache.ModifiedSincePager: a source
// that pages at the source is asked for one page.
func (s *Store) ModifiedSincePage(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	return s.modifiedPageFromMemory(ctx, since, afterID, limit)
}

// Ping checks that the source answers, for a readiness check: its own
// Ping when it has one (pgsource: a pooled connection answers), else one
// read of its change feed. Whether the feed can be followed is SyncError's.
func (s *Store) Ping(ctx context.Context) error {
	if p, ok := s.raw.(interface{ Ping(context.Context) error }); ok {
		_, err := bounded(s, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, p.Ping(ctx) })
		return err
	}
	_, err := s.Changes(ctx, 0, 1)
	return err
}

// Changes implements flagcache.Store.
func (s *Store) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	return bounded(s, ctx, func(ctx context.Context) (*flagcache.ChangeFeed, error) { return s.source.Changes(ctx, after, limit) })
}

func bounded[T any](s *Store, ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, s.opts.LoadTimeout)
	defer cancel()
	v, err := call(cctx)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil && !errors.Is(err, flagcache.ErrUnavailable) {
		err = flagcache.Unavailable(err)
	}
	s.sourceResult(err)
	return v, err
}

// Compact passes through to a source that implements flagcache.Compactor.
func (s *Store) Compact(ctx context.Context, before time.Time) error {
	c, ok := s.raw.(flagcache.Compactor)
	if !ok {
		return errors.New("tiered: source does not compact")
	}
	defer s.colls.clear() // change-feed pages cached before it hold what it drops
	return c.Compact(ctx, before)
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
