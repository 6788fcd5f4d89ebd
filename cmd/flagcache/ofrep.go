package main

import (
	"log/slog"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/config"
	"github.com/flagcache/flagcache/ofrep"
)

// mountOFREP serves the OpenFeature evaluation endpoints on h, with the
// environments bound to tokens and ofrep.default_environment.
func mountOFREP(h *httpapi.Handler, store flagcache.Store, cfg config.Config, log *slog.Logger) error {
	opts := ofrep.Options{
		DefaultEnvironment: cfg.OFREP.DefaultEnvironment,
		MaxBodyBytes:       cfg.Server.MaxBodyBytes,
		Logger:             log,
	}
	for _, t := range cfg.Auth.Tokens {
		if t.Environment != "" {
			opts.Tokens = append(opts.Tokens, ofrep.Token{Secret: string(t.Value), Environment: t.Environment})
		}
	}
	handler, err := ofrep.NewHandler(store, opts)
	if err != nil {
		return err
	}
	h.MountOFREP(handler)
	return nil
}
