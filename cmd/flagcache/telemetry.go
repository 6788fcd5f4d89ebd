package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/tiered"
)

// telemetryResource is the OpenTelemetry resource of this process: what
// /metrics reports as target_info and what spans carry. OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES (read by the SDK from the process
// environment) override these, for example with the pod's name.
func telemetryResource(ctx context.Context) (*resource.Resource, error) {
	return resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", "flagcache"),
			attribute.String("service.version", versionString()),
			attribute.String("service.instance.id", instanceID()),
		),
		resource.WithFromEnv(),
	)
}

// instanceID is a random UUID (version 4) per process, as the semantic
// conventions suggest for service.instance.id.
func instanceID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// tieredState is what the tiered store tells about its freshness.
type tieredState interface{ Stats() tiered.Stats }

// sourceRevisionTimeout bounds the source read of each scrape.
const sourceRevisionTimeout = time.Second

// registerDaemonMetrics adds the daemon's own series to mp:
//
//   - flagcache_build_info{version,commit,go_version} 1
//   - flagcache_redis_breaker_state{state="closed"|"open"}: 1 for the
//     current state (with a Redis cache only)
//   - flagcache_revision_applied: the revision this daemon's caches reflect
//   - flagcache_revision_source: the source's current revision, read at
//     each scrape (one change-feed read of one entry, bounded by 1s; not
//     reported when the source does not answer)
//   - flagcache_revision_lag: source − applied, the freshness signal
//
// The revision series need the tiered store (cache.lru_size > 0): the bare
// source is its own revision.
func registerDaemonMetrics(mp metric.MeterProvider, store flagcache.Store, redisCache bool) error {
	m := mp.Meter("github.com/flagcache/flagcache/cmd/flagcache")
	b := currentBuild()
	buildAttrs := metric.WithAttributes(attribute.String("version", b.Version),
		attribute.String("commit", b.Commit), attribute.String("go_version", b.GoVersion))
	if _, err := m.Int64ObservableGauge("flagcache.build.info",
		metric.WithDescription("The running build: version, commit and Go version (always 1)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(1, buildAttrs)
			return nil
		})); err != nil {
		return err
	}
	state, ok := store.(tieredState)
	if !ok {
		return nil
	}
	if redisCache {
		closed := metric.WithAttributes(attribute.String("state", "closed"))
		open := metric.WithAttributes(attribute.String("state", "open"))
		if _, err := m.Int64ObservableGauge("flagcache.redis.breaker.state",
			metric.WithDescription("The Redis breaker: 1 for its current state (open: Redis calls are skipped)."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				isOpen := int64(0)
				if state.Stats().BreakerOpen {
					isOpen = 1
				}
				o.Observe(1-isOpen, closed)
				o.Observe(isOpen, open)
				return nil
			})); err != nil {
			return err
		}
	}
	applied, err := m.Int64ObservableGauge("flagcache.revision.applied",
		metric.WithDescription("Revision up to which this daemon's caches reflect the source (-1: no baseline yet)."))
	if err != nil {
		return err
	}
	source, err := m.Int64ObservableGauge("flagcache.revision.source",
		metric.WithDescription("The source's current revision, read at each scrape."))
	if err != nil {
		return err
	}
	lag, err := m.Int64ObservableGauge("flagcache.revision.lag",
		metric.WithDescription("Revisions the source is ahead of what this daemon's caches reflect."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		a := state.Stats().AppliedRevision
		o.ObserveInt64(applied, a)
		ctx, cancel := context.WithTimeout(ctx, sourceRevisionTimeout)
		defer cancel()
		feed, err := store.Changes(ctx, 0, 1)
		if err != nil {
			return nil // the source is down: /readyz says so; no figure beats a wrong one
		}
		o.ObserveInt64(source, feed.Revision)
		if a >= 0 {
			o.ObserveInt64(lag, max(feed.Revision-a, 0))
		}
		return nil
	}, applied, source, lag)
	return err
}

// logConfig is the configuration as the startup log shows it: the
// settings by their config-file names, durations as durations ("15s",
// where slog's JSON handler would print nanoseconds), secrets redacted.
// durationText is a ReplaceAttr that writes durations as text ("1.5s"),
// as the text handler and logConfig do, where slog's JSON handler writes
// nanoseconds.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

func logConfig(v any) any { return logValue(reflect.ValueOf(v)) }

func logValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return d.String()
	}
	if s, ok := v.Interface().(fmt.Stringer); ok && v.Kind() == reflect.String {
		return s.String() // config.Secret: "[redacted]"
	}
	switch v.Kind() {
	case reflect.Struct:
		out := make(map[string]any, v.NumField())
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Tag.Get("toml")
			if name == "" || name == "-" {
				name = f.Name
			}
			out[name] = logValue(v.Field(i))
		}
		return out
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = logValue(v.Index(i))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[fmt.Sprint(it.Key().Interface())] = logValue(it.Value())
		}
		return out
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return logValue(v.Elem())
	}
	return v.Interface()
}
