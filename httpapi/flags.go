package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// getFlag serves GET and HEAD /v1/flags/{id} routed by the mux.
func (h *Handler) getFlag(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	return h.writeFlag(w, r, infoOf(r.Context()), id)
}

// writeFlag answers a GET or HEAD of flag id (valid), on both paths: the
// mux's getFlag and the fast path ahead of it (Handler.ServeHTTP). info is
// the request's, nil when it did not come through Handler.ServeHTTP.
func (h *Handler) writeFlag(w http.ResponseWriter, r *http.Request, info *requestInfo, id flagcache.ID) error {
	flag, err := h.read(r.Context(), id)
	if err != nil {
		return flagError(id, err)
	}
	// The hot path of the daemon: header values are assigned, not Set
	// (a Set allocates a slice per value), the constant ones shared.
	hdr := w.Header()
	var vals []string // this response's own values: ETag, Content-Length
	if info != nil {
		vals = info.header[1:3]
	} else {
		vals = make([]string, 2)
	}
	vals[0] = flag.ETag
	hdr["Etag"] = vals[0:1:1]
	hdr["Cache-Control"] = noCacheValue
	hdr[wire.TierHeader] = tierValue(flag.Tier)
	if flag.Stale {
		hdr[wire.StaleHeader] = trueValue
	}
	if flag.Malformed {
		hdr[wire.MalformedHeader] = trueValue // the reason is the body's "malformed"
	}
	if noneMatch(r.Header["If-None-Match"], flag.Version) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hdr["Content-Type"] = jsonValue
	vals[1] = strconv.Itoa(len(flag.Body))
	hdr["Content-Length"] = vals[1:2:2]
	w.WriteHeader(http.StatusOK)
	w.Write(flag.Body)
	return nil
}

// Header values every GET of a flag sends, shared by all responses. Only
// net/http reads them; a Header.Add on one appends past its capacity, so
// it copies. Keys are in canonical form, as assigning them needs.
var (
	noCacheValue = []string{"no-cache"}
	jsonValue    = []string{"application/json"}
	trueValue    = []string{wire.HeaderTrue}
	tierValues   = map[flagcache.Tier][]string{
		flagcache.TierLRU: {string(flagcache.TierLRU)}, flagcache.TierRedis: {string(flagcache.TierRedis)},
		flagcache.TierSource: {string(flagcache.TierSource)},
	}
)

func tierValue(t flagcache.Tier) []string {
	if v, ok := tierValues[t]; ok {
		return v
	}
	return []string{string(t)}
}

// read reads one flag encoded, with its tier: from an EncodedReader when
// the store is one (the tiered store: its cached bytes), else from a
// HitReader (its body when it has one), else from Get ("source").
func (h *Handler) read(ctx context.Context, id flagcache.ID) (flagcache.Encoded, error) {
	if h.encoded != nil {
		return h.encoded.GetEncoded(ctx, id)
	}
	var hit flagcache.Hit
	var err error
	if h.hits != nil {
		hit, err = h.hits.GetHit(ctx, id)
	} else {
		hit.Stored, err = h.store.Get(ctx, id)
		hit.Tier = flagcache.TierSource
	}
	if err != nil {
		return flagcache.Encoded{}, err
	}
	s := hit.Stored
	enc := flagcache.Encoded{Body: hit.Body, Version: s.Version, ETag: s.ETag, Malformed: s.Malformed != "", Tier: hit.Tier, Stale: hit.Stale}
	if enc.Body == nil {
		enc.Body = s.AppendJSON(nil)
	}
	if enc.ETag == "" {
		enc.ETag = flagcache.ETag(s.Version)
	}
	return enc, nil
}

// createFlag serves POST /v1/flags.
func (h *Handler) createFlag(w http.ResponseWriter, r *http.Request) error {
	var def flagcache.Definition
	if err := h.decode(w, r, &def); err != nil {
		return err
	}
	s, err := h.store.Create(r.Context(), &def)
	if err != nil {
		return flagError(def.ID, err)
	}
	h.writes.Notify()
	w.Header().Set("Location", "/v1/flags/"+url.PathEscape(string(s.Definition.ID)))
	writeStored(w, http.StatusCreated, s)
	return nil
}

// putFlag serves PUT /v1/flags/{id}: a body without an id takes the
// path's; a different one is an error.
func (h *Handler) putFlag(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	expected, err := ifMatch(r)
	if err != nil {
		return err
	}
	var def flagcache.Definition
	if err := h.decode(w, r, &def); err != nil {
		return err
	}
	switch def.ID {
	case "":
		def.ID = id
	case id:
	default:
		return flagcache.Invalid("id", "the body's id %q differs from the path's %q", truncate(string(def.ID), 64), id)
	}
	s, err := h.store.Update(r.Context(), &def, expected)
	if err != nil {
		return flagError(id, err)
	}
	h.writes.Notify()
	writeStored(w, http.StatusOK, s)
	return nil
}

// deleteFlag serves DELETE /v1/flags/{id}.
func (h *Handler) deleteFlag(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	expected, err := ifMatch(r)
	if err != nil {
		return err
	}
	tomb, err := h.store.Delete(r.Context(), id, expected)
	if err != nil {
		return flagError(id, err)
	}
	h.writes.Notify()
	// The tombstone's version and the delete's revision, so a client can
	// tell what it deleted without reading the change feed.
	w.Header().Set("ETag", flagcache.ETag(tomb.Version))
	w.Header().Set(wire.RevisionHeader, strconv.FormatInt(tomb.Revision, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeStored writes one flag with its ETag.
func writeStored(w http.ResponseWriter, status int, s *flagcache.Stored) {
	w.Header().Set("ETag", flagcache.ETag(s.Version))
	writeBody(w, status, s.AppendJSON(nil))
}

// pathID returns the {id} of the path, validated.
func pathID(r *http.Request) (flagcache.ID, error) {
	id := flagcache.ID(r.PathValue("id"))
	return id, id.Validate()
}

// ifMatch returns the expected version an If-Match header names: 0 when
// there is none or it is "*" (the flag must exist, which Update and Delete
// check anyway). A list of tags is refused: a write expects one version.
// If-Match compares strongly (RFC 9110 13.1.1): a weak tag such as W/"v3"
// never matches, so it is a 412.
func ifMatch(r *http.Request) (int64, error) {
	values := r.Header.Values("If-Match")
	switch {
	case len(values) == 0:
		return 0, nil
	case len(values) > 1 || strings.Contains(values[0], ","):
		return 0, flagcache.Invalid("If-Match", "name exactly one version, such as \"v3\", or *")
	}
	tag := strings.TrimSpace(values[0])
	if tag == "*" {
		return 0, nil
	}
	if strings.HasPrefix(tag, "W/") {
		if _, err := flagcache.ParseETag(tag); err != nil {
			return 0, err
		}
		return 0, &apiError{wire.CodeVersionConflict,
			"If-Match compares strongly: the weak tag " + truncate(tag, 32) + " never matches; send the strong tag without W/"}
	}
	return flagcache.ParseETag(tag)
}

// noneMatch reports whether an If-None-Match header matches version: "*"
// matches any existing flag; tags compare weakly. Tags that are not ours
// never match.
func noneMatch(values []string, version int64) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			if n, err := flagcache.ParseETag(tag); err == nil && n == version {
				return true
			}
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
