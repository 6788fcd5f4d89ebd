package tiered

// AppliedRevision returns the revision up to which the Store reflects the
// source (every change at or below it has been applied locally), or -1
// while it has no baseline revision. The daemon exports it, and its lag
// behind the source's current revision, on /metrics.
func (s *Store) AppliedRevision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

// RedisBreakerOpen reports whether the Redis breaker is open: Redis calls
// are skipped (but for a probe per cooldown) after consecutive failures.
// It is false when the Store has no Redis.
func (s *Store) RedisBreakerOpen() bool {
	return s.cache != nil && s.breaker.isOpen()
}
