package main

import "math/rand/v2"

// Picker draws ids (indexes 0..n-1 into the data set) from a Zipf
// distribution: index k comes up with probability proportional to
// 1/(k+1)^s, so a few flags are hot and most are read now and then, as in
// an application's flag evaluations. One goroutine uses a Picker; seed
// makes its sequence reproducible.
type Picker struct {
	z *rand.Zipf
}

// NewPicker returns a picker over n ≥ 1 ids with exponent s > 1.
func NewPicker(n int, s float64, seed uint64) *Picker {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &Picker{z: rand.NewZipf(r, s, 1, uint64(n-1))}
}

// Next returns the next id's index.
func (p *Picker) Next() int { return int(p.z.Uint64()) }
