package main

import (
	"math"
	"testing"
)

func TestPicker(t *testing.T) {
	const n, s, draws = 1000, 1.1, 300_000
	p := NewPicker(n, s, 7)
	counts := make([]int, n)
	for range draws {
		k := p.Next()
		if k < 0 || k >= n {
			t.Fatalf("Next: got %d, want an index in [0, %d)", k, n)
		}
		counts[k]++
	}
	var norm float64
	for k := range n {
		norm += math.Pow(float64(k+1), -s)
	}
	for k := range 5 {
		want := draws * math.Pow(float64(k+1), -s) / norm
		if got := float64(counts[k]); math.Abs(got-want)/want > 0.05 {
			t.Errorf("index %d: drawn %v times, want %.0f ± 5%% (Zipf s=%v)", k, got, want, s)
		}
	}
	seen := 0
	for _, c := range counts {
		if c > 0 {
			seen++
		}
	}
	if seen < n/2 {
		t.Errorf("%d distinct ids drawn of %d: the tail is not being read", seen, n)
	}

	a, b := NewPicker(n, s, 42), NewPicker(n, s, 42)
	for i := range 100 {
		if x, y := a.Next(), b.Next(); x != y {
			t.Fatalf("draw %d with the same seed: got %d and %d, want the same sequence", i, x, y)
		}
	}
	if one := NewPicker(1, s, 1); one.Next() != 0 {
		t.Errorf("one id: want index 0")
	}
}
