//go:build race

package main

// The race detector slows the JSON codec and the HTTP stack about tenfold:
// size-heavy tests scale down under it.
func init() { raceEnabled = true }
