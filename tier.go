package flagcache

import "context"

// Tier names the layer that served a read; the HTTP API reports it in the
// X-Flagcache-Tier header.
type Tier string

// The tiers of the tiered store, nearest first.
const (
	TierLRU    Tier = "lru"
	TierRedis  Tier = "redis"
	TierSource Tier = "source"
)

// Hit is a read with its provenance.
type Hit struct {
	Stored *Stored
	Tier   Tier
	// Stale is true when the source could not be reached and the value
	// came from a cache that may be behind it.
	Stale bool
	// Body, when not nil, is the JSON encoding of Stored, shared by every
	// reader of this cache entry: serve it as is and never modify it.
	Body []byte
}

// HitReader is implemented by stores that can tell which tier served a read
// (the tiered store). GetHit has Get's contract.
type HitReader interface {
	GetHit(ctx context.Context, id ID) (Hit, error)
}

// Encoded is a read of one flag as its JSON — what Stored.AppendJSON
// writes — with what an answer needs besides, for a reader that serves the
// bytes and never looks inside them (the HTTP API's GET).
type Encoded struct {
	// Body is the Stored's JSON, shared by every reader of the cache
	// entry: serve it as is and never modify it.
	Body      []byte
	Version   int64
	ETag      string
	Malformed bool // Stored.Malformed is not empty (the body says why)
	Tier      Tier
	Stale     bool // as in Hit
}

// EncodedReader is implemented by stores that keep flags encoded (the
// tiered store keeps each cached flag as its JSON only). GetEncoded has
// Get's contract and decodes nothing.
type EncodedReader interface {
	GetEncoded(ctx context.Context, id ID) (Encoded, error)
}
