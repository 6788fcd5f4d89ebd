package main

// Tier is the tier that served a read, from the X-Flagcache-Tier header.
type Tier uint8

// The tiers a read is counted under.
const (
	TierNone   Tier = iota // no header (a baseline, or an error)
	TierLRU                // "lru"
	TierRedis              // "redis"
	TierSource             // "source"
	TierOther              // any other value
	numTiers
)

var tierNames = [numTiers]string{"none", "lru", "redis", "source", "other"}

func (t Tier) String() string { return tierNames[t] }

// ParseTier maps an X-Flagcache-Tier header value to its Tier.
func ParseTier(header string) Tier {
	switch header {
	case "":
		return TierNone
	case "lru":
		return TierLRU
	case "redis":
		return TierRedis
	case "source":
		return TierSource
	}
	return TierOther
}

// TierCounts counts reads per tier. One goroutine adds to a TierCounts;
// merge them afterwards.
type TierCounts [numTiers]int64

// Add counts one read served by t.
func (c *TierCounts) Add(t Tier) { c[t]++ }

// Merge adds o's counts to c.
func (c *TierCounts) Merge(o TierCounts) {
	for i := range c {
		c[i] += o[i]
	}
}

// Shares returns each tier's share of the counted reads, by name, leaving
// out tiers that served none. Nil when nothing was counted.
func (c TierCounts) Shares() map[string]float64 {
	var total int64
	for _, n := range c {
		total += n
	}
	if total == 0 {
		return nil
	}
	out := map[string]float64{}
	for t, n := range c {
		if n > 0 {
			out[tierNames[t]] = float64(n) / float64(total)
		}
	}
	return out
}
