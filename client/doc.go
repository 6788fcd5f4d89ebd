// Package client is the Go client of a flagcache daemon: a flagcache.Store
// over the HTTP API v1, for apps that run flagcache as a sidecar.
//
//	c, err := client.New("http://127.0.0.1:8080", client.WithToken(token))
//	flag, err := c.Get(ctx, "new-checkout")
//
// Every Store method is one API call (or a few, paged): Get is
// GET /v1/flags/{id}, Create POST /v1/flags, Update PUT with If-Match: "vN"
// when an expected version is given, Delete DELETE, GetMany
// POST /v1/flags:batchGet, List and Count GET /v1/flags and
// /v1/flags:count, ModifiedSince and Changes their GET endpoints. A List
// or Changes call without a limit (or above wire.MaxPage, the API's maximum
// page) reads page after page until done. Input is validated in process
// with the domain's own rules before anything is sent.
//
// # Errors
//
// The API's error codes map back to the domain's errors, so code written
// against any Store works unchanged: errors.Is(err, flagcache.ErrNotFound),
// errors.As(err, &conflict) for a *flagcache.VersionConflictError with the
// server's expected and actual versions, a *flagcache.InvalidError naming
// the field for a 400. Every such error is also an *Error carrying the
// HTTP status and the request id the server logged. A daemon that cannot
// be reached is flagcache.ErrUnavailable; a cancelled ctx is ctx's error.
//
// Reads are retried on ErrUnavailable (WithRetries, exponential backoff
// with full jitter, at least the server's Retry-After). Writes are never
// retried: a write sent without an answer coming back (the connection
// broke, the attempt timed out) has an unknown outcome and fails with
// ErrOutcomeUnknown, which says so, and ErrUnavailable.
//
// Requests go through one keep-alive transport shared by every Client in
// the process (64 idle connections per host) unless WithHTTPClient says
// otherwise; WithTimeout bounds each request.
//
// # Local cache
//
// WithLocalCache(size) keeps up to size flags in process. The flow:
//
//  1. New starts a watcher: it reads the store's current revision and
//     opens GET /v1/watch after it.
//  2. While that stream is open the cache is coherent: Get, GetHit, Exists
//     and GetMany answer from it without a network round trip, and fill it
//     on a miss (not-found answers too). The client's own writes go into
//     it, so it reads them back at once.
//  3. Each event names an id, a version and a revision. A cached copy
//     older than the version is dropped (a delete leaves a tombstone) and
//     re-read in the background, so a flag in use stays cached. A fill
//     that read an older version than the watch announced meanwhile is not
//     installed, and the read asks again (up to WithRetries; then it
//     returns what it read, marked Stale).
//  4. A dropped stream (or one the daemon ends with an error event, its
//     source failing) makes the cache incoherent: reads go to the daemon,
//     and their answers are cached but not served from the cache until it
//     is coherent again. The stream is resumed with Last-Event-ID = the
//     last revision seen: the daemon replays what was missed, nothing is
//     lost and nothing is purged, and the cache is coherent again once
//     that backlog, up to the daemon's revision as the stream opened, is
//     applied. Only an expired cursor (410, or a resync event) purges the
//     cache; the watcher then continues from the current revision.
//  5. When the daemon cannot be reached, Get serves a cached copy, marked
//     Stale in GetHit, rather than fail.
//
// Reads through one client never go back, per flag: every answer of the
// daemon is remembered as a version that exists, so no older copy is
// served after it, not even as a stale fallback, and an answer older than
// a copy the client holds (the daemon's own cache lagging the feed its
// watch reads) gives way to that copy.
//
// Stats reports hits, misses, invalidations, purges and the watch state.
// Watch gives apps the same events. Close stops the watcher.
//
// # Deletes
//
// The API answers DELETE with 204 and no body, but Delete returns the
// delete's change-feed entry (tombstone version and revision): the client
// takes them from the response's ETag and X-Flagcache-Revision headers,
// with no further request. See Delete.
package client
