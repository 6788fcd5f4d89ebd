// Package httpapi serves the flagcache HTTP API v1 over any flagcache.Store.
//
// NewHandler returns an http.Handler. A request flows through it in this
// order:
//
//  1. ServeHTTP gives it a request id (X-Request-Id, taken from the request
//     when it is well formed, generated otherwise) and a logger carrying it.
//  2. net/http's pattern mux picks the route. Every route is registered with
//     its methods; a path hit with another method gets 405 with Allow, an
//     unknown path 404, both with the JSON error body.
//  3. The route wrapper records metrics (requests and latency by route
//     pattern and status), checks the bearer token against the route's scope
//     (read or write) and runs the handler.
//  4. Handlers return errors; writeError maps them to a status and the body
//     {"error":{"code","message"}} in one place (errors.go).
//
// # Reads and tiers
//
// GET and HEAD of one flag use flagcache.HitReader when the store implements
// it (the tiered store): X-Flagcache-Tier names the tier that served the
// read, a read served from a cache while the source is unreachable carries
// X-Flagcache-Stale: true, and Hit.Body (the pre-encoded JSON) is written as
// is. Other stores are read with Get and report the tier "source". Reads of
// many flags (list, batchGet, count, modifiedSince, changes) carry no tier
// header: one response may mix tiers.
//
// # Watch
//
// GET /v1/watch is a Server-Sent Events stream of the change feed. The
// cursor is the Last-Event-ID header, else ?after=, else the store's current
// revision (only writes made after connecting are sent). The backlog after
// the cursor is replayed from Store.Changes page by page, then new changes
// are polled every Options.WatchPoll and right away when Handler.Notify
// says the store changed (a write through this handler does; wire a
// tiered store's OnChange to it for every other change). A ": ping"
// comment goes out every Options.Heartbeat. Close ends every stream, which
// is what a graceful shutdown needs: http.Server.Shutdown does not wait for
// them to end by themselves.
//
// # Auth
//
// With Options.Tokens empty there is no auth (the daemon then binds only
// loopback). Otherwise every /v1 route needs "Authorization: Bearer TOKEN";
// a write token may also read. /healthz, /readyz and /metrics are open: they
// carry no flag data and probes and scrapers rarely hold tokens.
package httpapi
