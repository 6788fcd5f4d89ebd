package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
)

func TestMetricSum(t *testing.T) {
	tests := []struct {
		name, text string
		want       int64
		ok         bool
	}{
		{"one series", "# HELP flagcache_source_loads_total x\n# TYPE flagcache_source_loads_total counter\nflagcache_source_loads_total 42\n", 42, true},
		{"labelled series add up", "flagcache_source_loads_total{a=\"x y\"} 3\nflagcache_source_loads_total{a=\"z\"} 4\n", 7, true},
		{"longer names are others", "flagcache_source_loads_total_other 9\nflagcache_source_loads_total 1\n", 1, true},
		{"float notation", "flagcache_source_loads_total 1.5e+06\n", 1_500_000, true},
		{"absent", "flagcache_cache_hits_total{tier=\"lru\"} 4\n", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := metricSum([]byte(tt.text), "flagcache_source_loads_total")
			if got != tt.want || (err == nil) != tt.ok {
				t.Errorf("got %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&flagcache.VersionConflictError{ID: "a", Expected: 1, Actual: 2}, "version_conflict"},
		{redis.Nil, "not_found"},
		{fmt.Errorf("scan: %w", pgx.ErrNoRows), "not_found"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "connection_refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "connection_reset"},
		{io.ErrUnexpectedEOF, "connection_closed"},
		{context.DeadlineExceeded, "timeout"},
		{flagcache.Unavailable(errors.New("down")), "unavailable"},
		{errors.New("something else"), "other"},
	}
	for _, tt := range tests {
		if got := errorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v): got %q, want %q", tt.err, got, tt.want)
		}
	}
}
