package main

import (
	"math"
	"math/bits"
	"time"
)

// The histogram's layout, as in HdrHistogram: values below 2·histSub are
// counted exactly; above, each power of two is cut into histSub buckets of
// equal width, so a bucket is at most 1/histSub of its lower bound wide and
// a value read back (the bucket's midpoint) is within 1/(2·histSub) = 0.4 %
// of every value it counted.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits) * histSub
)

// Histogram counts durations (nanoseconds) in log-linear buckets: a fixed
// 57 KiB whatever the range, recording is an index computation and an
// increment, and two histograms merge by adding their counts. One
// goroutine records into a Histogram; merge them afterwards.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{min: math.MaxInt64} }

// Record counts one duration; negative ones count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded duration, exactly (0 when empty).
func (h *Histogram) Max() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Mean returns the mean of the recorded durations, exactly.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the duration at quantile q in [0, 1]: the smallest
// recorded value v such that at least q of the values are ≤ v, to within
// the bucket's 0.4 %. Quantile(1) is Max, exactly; an empty histogram
// answers 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(i)
			v := low + (width-1)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// bucketOf returns the bucket counting v ≥ 0.
func bucketOf(v int64) int {
	u := uint64(v)
	if u < 2*histSub {
		return int(u)
	}
	e := bits.Len64(u) - (histSubBits + 1)
	return (e+1)*histSub + int(u>>e) - histSub
}

// bucketRange returns the smallest value bucket i counts and how many
// values it counts.
func bucketRange(i int) (low, width int64) {
	if i < 2*histSub {
		return int64(i), 1
	}
	e := i/histSub - 1
	m := int64(i%histSub + histSub)
	return m << e, 1 << e
}
