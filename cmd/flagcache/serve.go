package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/config"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/tiered"
)

// serveFlags are the settings `flagcache serve` takes as flags; every
// setting can also come from the config file or the environment.
var serveFlags = []struct{ flag, setting, usage string }{
	{"listen", "server.listen", "`address` to listen on (default 127.0.0.1:8080; a non-loopback address needs tokens)"},
	{"data-dir", "source.data_dir", "`directory` of the embedded store (default $XDG_DATA_HOME/flagcache, else ./flagcache-data)"},
	{"source", "source.kind", "source of truth: embedded, memory, postgres or redis (default embedded)"},
	{"log-level", "log.level", "debug, info, warn or error (default info)"},
	{"log-format", "log.format", "json or text (default json)"},
}

func (c *cli) serve(ctx context.Context, args []string) error {
	cfg, err := c.loadConfig("serve", args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, c)
	rediskv.SetLogger(log) // go-redis's own lines go into the structured log
	defer paceGC(cfg.Runtime, c.getenv, log).stop()
	d, err := startDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	return d.serve(ctx)
}

// loadConfig parses the flags of a subcommand that reads the configuration
// and layers them over the file and the environment.
func (c *cli) loadConfig(name string, args []string) (config.Config, error) {
	fs := c.flagSet(name)
	path := fs.String("config", "", "TOML config `file` (default $FLAGCACHE_CONFIG; see config.example.toml)")
	values := make(map[string]*string, len(serveFlags))
	for _, f := range serveFlags {
		values[f.flag] = fs.String(f.flag, "", f.usage)
	}
	if err := parse(fs, args); err != nil {
		return config.Config{}, err
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		for _, sf := range serveFlags {
			if sf.flag == f.Name {
				set[sf.setting] = *values[f.Name]
			}
		}
	})
	if *path == "" {
		*path = c.getenv("FLAGCACHE_CONFIG")
	}
	return config.Load(*path, c.getenv, set)
}

func newLogger(cfg config.Log, c *cli) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(c.stderr, opts))
	}
	opts.ReplaceAttr = durationText // JSON would print nanoseconds
	return slog.New(slog.NewJSONHandler(c.stderr, opts))
}

// daemon is a started `flagcache serve`: store, handler, server, listener.
type daemon struct {
	cfg        config.Config
	log        *slog.Logger
	closeStore func() error
	meter      *sdkmetric.MeterProvider
	tracer     *sdktrace.TracerProvider
	handler    *httpapi.Handler
	server     *http.Server
	listener   net.Listener
}

// startDaemon opens the store and binds the listener; serve then runs it.
func startDaemon(ctx context.Context, cfg config.Config, log *slog.Logger) (*daemon, error) {
	tokens, err := apiTokens(cfg.Auth)
	if err != nil {
		return nil, err
	}
	if err := checkBind(cfg.Server.Listen, len(tokens) > 0); err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log}
	opts := httpapi.Options{
		Logger:       log,
		Tokens:       tokens,
		MaxBodyBytes: cfg.Server.MaxBodyBytes,
		WatchPoll:    cfg.Server.WatchPoll,
		Heartbeat:    cfg.Server.WatchHeartbeat,

		MaxWatchStreams:         cfg.Server.MaxWatchStreams,
		MaxWatchStreamsPerToken: cfg.Server.MaxWatchStreamsPerToken,
	}
	res, err := telemetryResource(ctx)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource (OTEL_RESOURCE_ATTRIBUTES?): %w", err)
	}
	if cfg.Metrics.Enabled {
		mopts := []sdkmetric.Option{sdkmetric.WithResource(res)}
		if cfg.Metrics.OTLPEndpoint == "" && os.Getenv("OTEL_METRICS_EXEMPLAR_FILTER") == "" {
			// Without traces no measurement has a span to name: the
			// default (trace-based) filter would still look for one in
			// every request's measurement (docs/benchmarks.md, session 5).
			mopts = append(mopts, sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
		}
		mp, metrics, err := httpapi.NewPrometheus(mopts...)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		d.meter, opts.MeterProvider, opts.Metrics = mp, mp, metrics
	}
	if cfg.Metrics.OTLPEndpoint != "" {
		tp, err := startTracing(ctx, cfg.Metrics.OTLPEndpoint, res, log)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("metrics.otlp_endpoint: %w", err)
		}
		d.tracer, opts.TracerProvider = tp, tp
	}
	store, closeStore, err := buildStore(ctx, cfg, log, &opts)
	if err != nil {
		d.close()
		return nil, err
	}
	d.closeStore = closeStore
	if d.meter != nil {
		redisCache := len(cfg.Redis.Addrs) > 0 && cfg.Source.Kind != "redis"
		if err := registerDaemonMetrics(d.meter, store, redisCache); err != nil {
			d.close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	if d.handler, err = httpapi.NewHandler(store, opts); err != nil {
		d.close()
		return nil, err
	}
	if ts, ok := store.(*tiered.Store); ok {
		// Every change the store applies (writes through other sidecars,
		// foreign SQL, repairs) wakes the watch streams at once.
		ts.OnChange(d.handler.Notify)
	}
	if err = mountOFREP(d.handler, store, cfg, log); err != nil {
		d.close()
		return nil, err
	}
	if d.listener, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		d.close()
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	d.listener = deadlineListener{d.listener} // write_timeout without two timer updates per request
	d.server = &http.Server{
		Handler:           d.handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	d.server.RegisterOnShutdown(d.handler.Close) // ends watch streams
	return d, nil
}

// serve runs the server until ctx is done, then shuts down gracefully:
// stop accepting, end watch streams, let in-flight requests finish within
// server.shutdown_timeout, close the store.
func (d *daemon) serve(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- d.server.Serve(d.listener) }()
	d.log.Info("listening", slog.String("addr", d.listener.Addr().String()),
		slog.String("source", d.cfg.Source.Kind), slog.Bool("auth", len(d.cfg.Auth.Tokens) > 0),
		slog.String("version", versionString()), slog.Any("config", logConfig(d.cfg)))

	var err error
	select {
	case err = <-served:
		err = fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
		d.log.Info("shutting down", slog.String("timeout", d.cfg.Server.ShutdownTimeout.String()))
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Server.ShutdownTimeout)
		defer cancel()
		if err = d.server.Shutdown(shutdownCtx); err != nil {
			d.log.Warn("in-flight requests did not finish in time; closing them", slog.String("error", err.Error()))
			d.server.Close()
			err = nil
		}
		if served := <-served; !errors.Is(served, http.ErrServerClosed) {
			err = served
		}
	}
	return errors.Join(err, d.close())
}

// close releases what startDaemon opened.
func (d *daemon) close() error {
	var errs []error
	if d.handler != nil {
		d.handler.Close()
	}
	if d.closeStore != nil {
		if err := d.closeStore(); err != nil {
			errs = append(errs, fmt.Errorf("closing the store: %w", err))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.meter != nil {
		if err := d.meter.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing metrics: %w", err))
		}
	}
	if d.tracer != nil {
		if err := d.tracer.Shutdown(ctx); err != nil {
			d.log.Warn("flushing traces failed", slog.String("error", err.Error()))
		}
	}
	if len(errs) == 0 {
		d.log.Info("stopped")
	}
	return errors.Join(errs...)
}

// apiTokens turns the configured tokens (files already read) into the
// handler's.
func apiTokens(cfg config.Auth) ([]httpapi.Token, error) {
	var out []httpapi.Token
	for i, t := range cfg.Tokens {
		scope, err := httpapi.ParseScope(t.Scope)
		if err != nil {
			return nil, fmt.Errorf("auth.tokens[%d].scope: %w", i, err)
		}
		out = append(out, httpapi.Token{Secret: string(t.Value), Scope: scope, Name: t.Name})
	}
	return out, nil
}

// checkBind refuses a listen address beyond loopback when there are no
// tokens: without auth, anyone who reaches the port could rewrite flags.
func checkBind(addr string, haveTokens bool) error {
	if haveTokens {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(strings.Split(host, "%")[0]); ip != nil && ip.IsLoopback() {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every interface"
	}
	return fmt.Errorf("refusing to listen on %s (%s) without auth: configure a token "+
		"(FLAGCACHE_TOKEN, FLAGCACHE_READ_TOKEN or [[auth.tokens]] in the config file) "+
		"or listen on a loopback address such as 127.0.0.1:8080", addr, shown)
}
