package tiered

import (
	"context"
	"errors"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/rediskv"
)

// GetMany implements flagcache.Store as the batch form of Get: LRU hits
// first, then one Redis round trip, then one source read for the rest,
// run on a detached context bounded by LoadTimeout (the caller waits with
// its own). What the source returns fills Redis and the LRU. When the
// source cannot be reached, cached copies (even expired ones) are served;
// an id with no copy then fails the call with ErrUnavailable. A batch does
// not join the per-id loads of Get.
func (s *Store) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	if err := flagcache.ValidateIDs(ids); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[flagcache.ID]*flagcache.Stored, len(ids))
	var missing []flagcache.ID
	seen := make(map[flagcache.ID]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if e, ok := s.lru.get(id); ok {
			if !e.negative() {
				st, err := e.stored()
				if err != nil {
					return nil, err
				}
				out[id] = st
			}
			continue
		}
		missing = append(missing, id)
	}
	if len(missing) == 0 {
		return out, nil
	}
	done := make(chan batch, 1)
	go func() { done <- s.loadMany(missing) }()
	var b batch
	select {
	case b = <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b.err != nil {
		return nil, b.err
	}
	for id, e := range b.entries {
		if e.version < s.lru.Floor(id) { // a newer version was announced meanwhile
			h, err := s.GetHit(ctx, id)
			if err != nil && !errors.Is(err, flagcache.ErrNotFound) {
				return nil, err
			}
			if h.Stored != nil {
				out[id] = h.Stored
			}
			continue
		}
		if !e.negative() {
			st, err := e.stored()
			if err != nil {
				return nil, err
			}
			out[id] = st
		}
	}
	return out, nil
}

// batch is what loadMany found: an entry (a flag or a negative one) per id.
type batch struct {
	entries map[flagcache.ID]*entry
	err     error
}

// loadMany reads ids from Redis, then the rest from the source, on a
// detached context.
func (s *Store) loadMany(ids []flagcache.ID) batch {
	tok, trusted := s.fillToken()
	floors := make(map[flagcache.ID]int64, len(ids))
	for _, id := range ids {
		floors[id] = s.lru.Floor(id) // before the reads
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.LoadTimeout)
	defer cancel()
	b := batch{entries: make(map[flagcache.ID]*entry, len(ids))}
	rest, redisFailed := s.manyFromRedis(ctx, ids, b.entries)
	if len(rest) > 0 {
		s.obs.sourceLoads.Add(1)
		got, err := s.source.GetMany(ctx, rest)
		s.sourceResult(err)
		if err != nil {
			return s.staleMany(rest, b, err)
		}
		for _, id := range rest {
			st, ok := got[id]
			if !ok {
				b.entries[id] = s.negativeEntry(floors[id])
				continue
			}
			s.lru.Announce(id, st.Version, st.Revision)
			b.entries[id] = s.newEntry(st)
			if !redisFailed {
				s.fillRedis(ctx, rediskv.Entry{ID: id, Version: st.Version, Flag: st})
			}
		}
	}
	if trusted {
		for id, e := range b.entries {
			s.lru.Install(tok, id, e)
		}
	}
	return b
}

// manyFromRedis puts in found the Redis copies of ids that the known
// versions vouch for, in one round trip, and returns the other ids.
func (s *Store) manyFromRedis(ctx context.Context, ids []flagcache.ID, found map[flagcache.ID]*entry) (rest []flagcache.ID, failed bool) {
	if s.cache == nil || !s.breaker.allow() {
		return ids, s.cache != nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.CacheTimeout)
	defer cancel()
	got, err := s.cache.GetMany(ctx, ids)
	s.redisResult(err)
	if err != nil {
		s.obs.redisMisses.Add(int64(len(ids)))
		return ids, true
	}
	for _, id := range ids {
		ce, ok := got[id]
		if !ok || !s.lru.Accepts(id, ce.Version, entryRevision(ce)) {
			s.obs.redisMisses.Add(1)
			rest = append(rest, id)
			continue
		}
		s.obs.redisHits.Add(1)
		if ce.Deleted || ce.Flag == nil {
			found[id] = s.negativeEntry(ce.Version)
		} else {
			found[id] = s.newEntry(ce.Flag)
		}
	}
	return rest, false
}

// staleMany serves cached copies, even expired ones, of the ids the source
// could not be read for, as Get does; without a copy of each, the batch
// fails with err.
func (s *Store) staleMany(ids []flagcache.ID, b batch, err error) batch {
	if !errors.Is(err, flagcache.ErrUnavailable) {
		return batch{err: err}
	}
	for _, id := range ids {
		e, ok := s.lru.Peek(id)
		if !ok || e.version < s.lru.Floor(id) {
			return batch{err: err}
		}
		b.entries[id] = e
		if !e.negative() {
			s.obs.staleServed.Add(1)
		}
	}
	return b
}
