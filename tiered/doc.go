// Package tiered composes flagcache's tiers into one flagcache.Store:
// an in-process LRU, then Redis (optional), then the source of truth.
//
// Read path: an LRU hit returns at once. A miss joins a singleflight per id
// (so a thousand concurrent misses cost one load), which checks the LRU
// again, then Redis, then the source; what the source returns is written to
// Redis with PutIfNewer (Redis never moves backwards) and to the LRU, unless
// an invalidation has meanwhile announced a newer version. Callers wait with
// their own context; the shared load runs on a detached one with its own
// timeout. Not-found is cached briefly as a negative entry.
//
// Write path: the source decides (compare-and-set, version and revision);
// then Redis gets the new version or a tombstone with PutIfNewer, an
// invalidation {id, version, op, revision, origin} is published, and the
// local LRU takes the new value. A write acknowledged to the caller is
// durable at the source whatever Redis does: a failed Redis write is
// repaired from the source's change feed when Redis answers again.
//
// Invalidations drop older local copies and record the newest announced
// version per id. Missed ones — a re-subscription, a failed ping, a revision
// that jumps, or a periodic check — are repaired from source.Changes after
// the last revision applied; only when that fails is the LRU purged. LRU
// entries also have a TTL, which bounds staleness when everything else
// fails. When the source is down, cached values (even expired ones) keep
// being served, marked stale; misses and writes fail with ErrUnavailable.
//
// Redis comes in through one door, Options.Redis: New builds the cache
// tier and the publisher from the client and subscribes (retrying with
// jitter while Redis is down). The repair machinery — applied revision,
// gaps, resync, rebase, replay into Redis, the source's notifications —
// is the syncer (syncer.go); OnChange reports every change it or the
// write path applies. With Options.SnapshotPath the LRU's flags are kept
// on local disk, so a restart with the source and Redis both down serves
// them, marked stale, until the source answers.
package tiered
