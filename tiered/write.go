package tiered

import (
	"context"
	"errors"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/vcache"
	"github.com/flagcache/flagcache/invalidation"
	"github.com/flagcache/flagcache/rediskv"
)

// Create implements flagcache.Store.
func (s *Store) Create(ctx context.Context, def *flagcache.Definition) (*flagcache.Stored, error) {
	st, err := s.source.Create(ctx, def)
	s.writeResult(err)
	if err != nil {
		return nil, err
	}
	s.afterWrite(flagcache.Change{Revision: st.Revision, Op: flagcache.OpUpsert, ID: st.Definition.ID, Version: st.Version, Flag: st})
	return st, nil
}

// Update implements flagcache.Store.
func (s *Store) Update(ctx context.Context, def *flagcache.Definition, expectedVersion int64) (*flagcache.Stored, error) {
	st, err := s.source.Update(ctx, def, expectedVersion)
	s.writeResult(err)
	if err != nil {
		var conflict *flagcache.VersionConflictError
		if errors.As(err, &conflict) {
			// Our copy may be the stale one the caller read.
			s.lru.Announce(conflict.ID, conflict.Actual, vcache.UnknownRevision)
		}
		return nil, err
	}
	s.afterWrite(flagcache.Change{Revision: st.Revision, Op: flagcache.OpUpsert, ID: st.Definition.ID, Version: st.Version, Flag: st})
	return st, nil
}

// Delete implements flagcache.Store.
func (s *Store) Delete(ctx context.Context, id flagcache.ID, expectedVersion int64) (flagcache.Change, error) {
	c, err := s.source.Delete(ctx, id, expectedVersion)
	s.writeResult(err)
	if err != nil {
		var conflict *flagcache.VersionConflictError
		if errors.As(err, &conflict) {
			s.lru.Announce(conflict.ID, conflict.Actual, vcache.UnknownRevision)
		}
		return flagcache.Change{}, err
	}
	s.afterWrite(c)
	return c, nil
}

func (s *Store) writeResult(err error) {
	if err == nil || errors.Is(err, flagcache.ErrUnavailable) {
		s.sourceResult(err)
	}
	if err != nil && !answered(err) {
		s.sync.writeUnknown()
	}
}

// answered reports an error that is the source's answer to the write (it
// was refused, so nothing was written), as opposed to a failure after
// which the write may or may not have committed.
func answered(err error) bool {
	for _, refused := range []error{
		flagcache.ErrNotFound, flagcache.ErrAlreadyExists, flagcache.ErrVersionConflict, flagcache.ErrInvalidArgument,
	} {
		if errors.Is(err, refused) {
			return true
		}
	}
	return false
}

// afterWrite spreads a committed write: Redis, the other sidecars, then the
// local LRU. Nothing here can fail the write; what Redis missed is repaired
// later from the change feed.
func (s *Store) afterWrite(c flagcache.Change) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.LoadTimeout)
	defer cancel()
	ctx, span := s.obs.tracer.Start(ctx, "tiered.afterWrite")
	defer span.End()

	s.putRedis(ctx, c)
	s.publish(ctx, c)
	tok, trusted := s.fillToken()
	s.lru.Announce(c.ID, c.Version, c.Revision)
	s.group.Forget(string(c.ID))
	if trusted {
		if c.Op == flagcache.OpDelete {
			s.lru.Install(tok, c.ID, s.negativeEntry(c.Version))
		} else {
			s.lru.Install(tok, c.ID, s.newEntry(c.Flag))
		}
	}
	// Applied here like any change: the next revision advances the
	// applied one, a later one (writes nobody announced yet) starts a
	// repair.
	s.sync.appliedOne(c.Revision)
	s.changed()
}

// publish announces c to the other sidecars. When Redis is failing it does
// not wait on it: receivers find the lost message by the revision jump or
// their periodic resync.
func (s *Store) publish(ctx context.Context, c flagcache.Change) {
	if s.pub == nil {
		return
	}
	msg := invalidation.Message{ID: c.ID, Version: c.Version, Op: c.Op, Revision: c.Revision, Origin: s.opts.Origin}
	err := errBreakerOpen
	if s.breaker.allow() {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CacheTimeout)
		err = s.pub.Publish(cctx, msg)
		cancel()
		s.redisResult(err)
	}
	if err != nil {
		s.log.Warn("tiered: invalidation not published; other sidecars repair it from the change feed", "id", c.ID, "revision", c.Revision, "err", err)
		return
	}
	s.obs.sent.Add(1)
}

// putRedis installs a write in Redis, or remembers that Redis is behind
// from this revision on.
func (s *Store) putRedis(ctx context.Context, c flagcache.Change) {
	if s.cache == nil {
		return
	}
	var err error = errBreakerOpen
	if s.breaker.allow() {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CacheTimeout)
		_, err = s.cache.PutIfNewer(cctx, redisEntry(c))
		cancel()
		s.redisResult(err)
	}
	if err != nil {
		s.sync.redisMayLack(c.Revision - 1)
		s.log.Warn("tiered: redis missed a write; it will be repaired when redis answers", "id", c.ID, "revision", c.Revision, "err", err)
	}
}

func redisEntry(c flagcache.Change) rediskv.Entry {
	return rediskv.Entry{ID: c.ID, Version: c.Version, Deleted: c.Op == flagcache.OpDelete, Flag: c.Flag}
}
