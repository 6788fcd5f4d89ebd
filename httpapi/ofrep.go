package httpapi

import (
	"net/http"
	"strings"

	"github.com/flagcache/flagcache/wire"
)

// MountOFREP serves an OpenFeature Remote Evaluation Protocol handler
// (package ofrep) at POST /ofrep/v1/evaluate/flags and POST
// /ofrep/v1/evaluate/flags/{key}, behind the read scope. OFREP lets a
// provider send its token as X-API-Key instead of a bearer token: a
// request without Authorization has its X-API-Key checked as the bearer
// token. Call it before serving.
func (h *Handler) MountOFREP(ofrep http.Handler) {
	serve := func(w http.ResponseWriter, r *http.Request) error {
		ofrep.ServeHTTP(w, r)
		return nil
	}
	for _, path := range []string{"/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/{key}"} {
		h.mux.Handle(http.MethodPost+" "+path, apiKeyAsBearer(h.wrap(path, ScopeRead, serve)))
		h.mux.Handle(path, h.wrap(path, scopeNone, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", http.MethodPost)
			return &apiError{wire.CodeMethodNotAllowed, r.Method + " is not allowed on " + path + "; allowed: POST"}
		}))
	}
}

// apiKeyAsBearer turns an X-API-Key header into the bearer token of a
// request that has no Authorization header.
func apiKeyAsBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key := strings.TrimSpace(r.Header.Get("X-API-Key")); key != "" && r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+key)
		}
		next.ServeHTTP(w, r)
	})
}
