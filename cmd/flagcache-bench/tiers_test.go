package main

import (
	"maps"
	"testing"
)

func TestTierCounts(t *testing.T) {
	var a, b TierCounts
	for _, h := range []string{"lru", "lru", "lru", "redis", "", "lru"} {
		a.Add(ParseTier(h))
	}
	for _, h := range []string{"source", "edge", "lru", "lru"} {
		b.Add(ParseTier(h))
	}
	a.Merge(b)
	got := a.Shares()
	want := map[string]float64{"lru": 0.6, "redis": 0.1, "source": 0.1, "none": 0.1, "other": 0.1}
	if !maps.Equal(got, want) {
		t.Errorf("Shares: got %v, want %v", got, want)
	}
	if got := (TierCounts{}).Shares(); got != nil {
		t.Errorf("Shares of nothing: got %v, want nil", got)
	}
	for _, tier := range []Tier{TierLRU, TierRedis, TierSource} {
		if got := ParseTier(tier.String()); got != tier {
			t.Errorf("ParseTier(%q): got %v, want %v", tier.String(), got, tier)
		}
	}
}
