package wire

// Headers of the API beyond the standard ones.
const (
	// TierHeader names the tier that served a read of one flag: lru,
	// redis or source (flagcache.Tier).
	TierHeader = "X-Flagcache-Tier"
	// StaleHeader is "true" when the source was unreachable and a cache
	// served a value that may be behind it.
	StaleHeader = "X-Flagcache-Stale"
	// MalformedHeader is "true" on a read of a flag stored in a shape
	// flagcache does not model; the body's "malformed" says why.
	MalformedHeader = "X-Flagcache-Malformed"
	// RevisionHeader carries the store-wide revision of a DELETE (its ETag
	// names the tombstone's version).
	RevisionHeader = "X-Flagcache-Revision"
	// ActorHeader names the actor of a write: sent by a caller of a daemon
	// without auth (with auth the token's name is the actor and the header
	// is ignored), and on write responses the actor recorded.
	ActorHeader = "X-Flagcache-Actor"
	// RequestIDHeader carries the request id, in and out; the server log
	// has the details of a 5xx under it.
	RequestIDHeader = "X-Request-Id"
	// MaxBatchHeader comes with the 400 of a batchGet that asked for more
	// ids than the daemon serves in one call: its cap, which may be below
	// MaxPage.
	MaxBatchHeader = "X-Flagcache-Max-Batch"
)

// HeaderTrue is the value of StaleHeader and MalformedHeader when they
// are sent (they are absent otherwise).
const HeaderTrue = "true"
