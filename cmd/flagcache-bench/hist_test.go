package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the reference: the smallest sample with at least q of
// the samples at or below it.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestHistogramQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		draw func() time.Duration
	}{
		{"uniform 0-10ms", func() time.Duration { return time.Duration(r.Int64N(int64(10 * time.Millisecond))) }},
		{"exponential mean 200µs", func() time.Duration { return time.Duration(r.ExpFloat64() * float64(200*time.Microsecond)) }},
		{"log-normal around 1ms", func() time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()*1.5) * float64(time.Millisecond))
		}},
		{"small integers", func() time.Duration { return time.Duration(r.IntN(300)) }},
		{"bimodal 50µs and 40ms", func() time.Duration {
			if r.IntN(100) < 3 {
				return 40*time.Millisecond + time.Duration(r.IntN(1000))*time.Microsecond
			}
			return 50*time.Microsecond + time.Duration(r.IntN(5000))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram()
			samples := make([]time.Duration, 100_000)
			for i := range samples {
				samples[i] = tt.draw()
				h.Record(samples[i])
			}
			slices.Sort(samples)
			if got := h.Count(); got != uint64(len(samples)) {
				t.Errorf("Count: got %d, want %d", got, len(samples))
			}
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 0.9999} {
				got, want := h.Quantile(q), exactQuantile(samples, q)
				// Small values are exact; the rest within 1 %.
				if diff := math.Abs(float64(got - want)); diff > 1 && diff/float64(want) > 0.01 {
					err := diff / float64(want)
					t.Errorf("Quantile(%v): got %v, want %v within 1%% (error %.2f%%)", q, got, want, 100*err)
				}
			}
			if got, want := h.Quantile(1), samples[len(samples)-1]; got != want {
				t.Errorf("Quantile(1): got %v, want the max %v exactly", got, want)
			}
			if got, want := h.Max(), samples[len(samples)-1]; got != want {
				t.Errorf("Max: got %v, want %v", got, want)
			}
			var sum float64
			for _, s := range samples {
				sum += float64(s)
			}
			if got, want := float64(h.Mean()), sum/float64(len(samples)); math.Abs(got-want) > 1 {
				t.Errorf("Mean: got %v, want %v", got, want)
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	all, parts := NewHistogram(), []*Histogram{NewHistogram(), NewHistogram(), NewHistogram()}
	for i := range 30_000 {
		d := time.Duration(r.ExpFloat64() * float64(time.Millisecond))
		all.Record(d)
		parts[i%3].Record(d)
	}
	merged := NewHistogram()
	merged.Merge(NewHistogram()) // an empty one changes nothing
	for _, p := range parts {
		merged.Merge(p)
	}
	if merged.Count() != all.Count() || merged.Max() != all.Max() || merged.Mean() != all.Mean() {
		t.Errorf("merged: got count %d max %v mean %v, want %d %v %v",
			merged.Count(), merged.Max(), merged.Mean(), all.Count(), all.Max(), all.Mean())
	}
	for _, q := range []float64{0, 0.25, 0.5, 0.9, 0.99, 0.999} {
		if got, want := merged.Quantile(q), all.Quantile(q); got != want {
			t.Errorf("Quantile(%v) of the merge: got %v, want %v (one histogram of every value)", q, got, want)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Errorf("empty: got p50 %v max %v mean %v count %d, want zeros", h.Quantile(0.5), h.Max(), h.Mean(), h.Count())
	}
	h.Record(-5)
	h.Record(time.Duration(math.MaxInt64))
	if got := h.Quantile(0); got != 0 {
		t.Errorf("a negative duration: got p0 %v, want 0", got)
	}
	if got := h.Max(); got != time.Duration(math.MaxInt64) {
		t.Errorf("the largest duration: got max %v, want %v", got, time.Duration(math.MaxInt64))
	}
	single := NewHistogram()
	single.Record(1234567)
	for _, q := range []float64{0, 0.5, 1} {
		if got := single.Quantile(q); got != 1234567 {
			t.Errorf("one value: Quantile(%v) got %v, want it exactly (clamped to min and max)", q, got)
		}
	}
}
