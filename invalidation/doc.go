// Package invalidation carries cache invalidations between flagcache
// sidecars over Redis pub/sub.
//
// After every write a sidecar publishes a Message {id, version, op,
// revision, origin}. Every sidecar's Subscriber hands messages to a Handler,
// which drops older local copies. Pub/sub is at-most-once and go-redis
// re-subscribes silently after a dropped connection, so the Subscriber also
// reports every moment messages may have been lost — a subscription
// confirmation after the first, a receive error, a failed health ping or
// one left unanswered (a half-open connection: the subscriber then
// subscribes again on a new connection), a shard dropping the
// subscription, a message it cannot decode — as a Gap. Whenever the
// subscriber replaces a subscription it reports a gap after the new one is
// confirmed, so a repair started then covers every message lost in
// between. The handler repairs gaps from the
// source's change feed (see package tiered); revision jumps between
// messages are the handler's to detect, since only it knows the revisions
// it has applied.
package invalidation
