package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

func (h *Handler) historyRoutes() {
	h.path("/v1/flags/{id}/history", route{http.MethodGet, ScopeRead, h.history})
	h.path("/v1/flags/{id}/versions/{version}", route{http.MethodGet, ScopeRead, h.version})
}

// history serves GET /v1/flags/{id}/history?before=&limit=: limit
// default 100, 1 to 1000; before 0 or absent starts at the newest version.
func (h *Handler) history(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	vals := r.URL.Query()
	if err := checkParams(vals, []string{"before", "limit"}); err != nil {
		return err
	}
	before, err := integer(vals, "before", 0, 0, 1<<63-1)
	if err != nil {
		return err
	}
	limit, err := integer(vals, "limit", wire.DefaultPage, 1, wire.MaxPage)
	if err != nil {
		return err
	}
	page, err := h.store.History(r.Context(), id, before, int(limit))
	if err != nil {
		return flagError(id, err)
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, page)
	return nil
}

// version serves GET /v1/flags/{id}/versions/{version}: that version as
// a Stored, with its ETag.
func (h *Handler) version(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := checkParams(r.URL.Query()); err != nil {
		return err
	}
	raw := r.PathValue("version")
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 1 {
		return flagcache.Invalid("version", "%q is not a version number (1 or more)", truncate(raw, 32))
	}
	st, err := h.store.GetVersion(r.Context(), id, n)
	if errors.Is(err, flagcache.ErrNotFound) {
		return &apiError{wire.CodeNotFound, notFoundMessage(err)}
	}
	if err != nil {
		return err
	}
	writeStored(w, http.StatusOK, st)
	return nil
}

// notFoundMessage is the store's not-found message without the sentinel's
// prefix ("flag not found: version 3 of flag "x" is …").
func notFoundMessage(err error) string {
	return strings.TrimPrefix(err.Error(), flagcache.ErrNotFound.Error()+": ")
}

// withActor returns r with the actor of its writes in the context: the
// name of the token that matched (index token), or without tokens the name
// the caller gives in wire.ActorHeader (the store refuses a bad one), else
// flagcache.ActorAnonymous. A write's response names it.
func (a authenticator) withActor(w http.ResponseWriter, r *http.Request, token int) *http.Request {
	var actor string
	switch {
	case token >= 0 && token < len(a.tokens):
		actor = a.tokens[token].name
	case len(a.tokens) > 0:
		return r // a route that needs no token
	default:
		actor = flagcache.ActorAnonymous
		if v := r.Header.Values(wire.ActorHeader); len(v) > 0 {
			actor = v[0]
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && flagcache.ValidateActor(actor) == nil {
		w.Header().Set(wire.ActorHeader, actor)
	}
	return r.WithContext(flagcache.WithActor(r.Context(), actor))
}
