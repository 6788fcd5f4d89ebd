package main

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/flagcache/flagcache/internal/config"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name        string
		live        int64
		percent     int
		minHeadroom int64
		want        int
	}{
		{"large heap: the percent", 128 * mib, 75, 64 * mib, 75},
		{"small heap: the headroom", 32 * mib, 75, 64 * mib, 200},
		{"tiny heap: at most 4x the percent", 8 * mib, 75, 64 * mib, 300},
		{"at the crossover", 256 * mib / 3, 75, 64 * mib, 75},
		{"no headroom", 4 * mib, 75, 0, 75},
		{"nothing live yet", 0, 75, 64 * mib, 75},
		{"huge headroom: no overflow", 1, 75, 1 << 62, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcPercentFor(tt.live, tt.percent, tt.minHeadroom); got != tt.want {
				t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", tt.live, tt.percent, tt.minHeadroom, got, tt.want)
			}
		})
	}
}

// A GOGC or GOMEMLIMIT of the user's always wins over runtime.gc_*.
func TestGCPacingEnvWins(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"neither set", nil, true},
		{"GOGC", map[string]string{"GOGC": "100"}, false},
		{"GOGC off", map[string]string{"GOGC": "off"}, false},
		{"GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "512MiB"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			if got, _ := gcPacing(getenv); got != tt.want {
				t.Errorf("gcPacing = %v, want %v", got, tt.want)
			}
			if p := paceGC(config.Default().Runtime, getenv, slog.New(slog.DiscardHandler)); (p != nil) != tt.want {
				t.Errorf("paceGC started a pacer: %v, want %v", p != nil, tt.want)
			} else {
				p.stop()
			}
		})
	}
}

// After a collection the pacer sets GOGC for the live heap, and stop puts
// back the GOGC it found.
func TestGCPacerSetsGOGCAfterACollection(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	// A headroom no test binary's heap reaches: the headroom decides.
	cfg := config.Runtime{GCPercent: 75, GCMinHeadroomBytes: 1 << 40}
	p := paceGC(cfg, func(string) string { return "" }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := p.gcPercent(); got != 75 {
		t.Fatalf("GOGC before a collection: got %d, want 75", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.gcPercent() == 75 {
		if time.Now().After(deadline) {
			t.Fatal("GOGC still 75 after collections: the pacer did not run")
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the cleanup runs on its own goroutine
	}
	if got := debug.SetGCPercent(p.gcPercent()); got != p.gcPercent() || got <= 75 {
		t.Errorf("GOGC after a collection: got %d, want the pacer's %d (> 75)", got, p.gcPercent())
	}
	p.stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after stop: got %d, want 100 (as it was)", got)
	}
}
