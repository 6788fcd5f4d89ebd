package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// The collection routes (list, count, batchGet, modifiedSince, changes)
// answer from the store's memory when it is a flagcache.CollectionReader
// (the tiered store): every response then carries an ETag naming the
// revision it was computed at, "r812.1a2b3c4d" (the revision, then a hash
// of the route and its query, so no tag matches another collection), and
// a request whose If-None-Match names the revision the store would answer
// at now gets 304 without the result being looked up or encoded — except
// a change-feed page, which is read from the source whenever it answers
// (its content is not fixed by the revision: retention drops tombstones
// by time) and answered 304 when its tag, which hashes the page, is the
// one named. A result
// served from memory while the source is unreachable is marked
// X-Flagcache-Stale: true, as a GET is. Over a store that is not one
// (a bare source) the routes read it on every request and send no ETag.

// collectionTag returns the ETag of a collection computed at rev: the
// revision and a hash (FNV-1a, 32 bits) of what identifies the
// collection (the route and its query, or a batch's ids; for a change-feed
// page, its content too).
func collectionTag(rev int64, key string) string {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	b := make([]byte, 0, 32)
	b = append(b, `"r`...)
	b = strconv.AppendInt(b, rev, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(h), 16)
	return string(append(b, '"'))
}

// resultTag returns the ETag of a collection result, or "" (no ETag)
// for one that is not exactly at its revision: read while writes kept
// landing, it may hold writes past it, and the tag would name two
// contents.
func resultTag(c flagcache.Collection, key string) string {
	if !c.Exact {
		return ""
	}
	return collectionTag(c.Revision, key)
}

// tagListed reports whether an If-None-Match header lists tag (compared
// weakly) or is "*".
func tagListed(values []string, tag string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == tag || t == "*" {
				return true
			}
		}
	}
	return false
}

// collectionHeaders sets the headers of a collection response (assigned,
// not Set: a 304 of a poll is as hot as a GET).
func collectionHeaders(w http.ResponseWriter, tag string, stale bool) {
	hdr := w.Header()
	if tag != "" {
		hdr["Etag"] = []string{tag}
	}
	hdr["Cache-Control"] = noCacheValue
	if stale {
		hdr[wire.StaleHeader] = trueValue
	}
}

// notModified answers 304 when the request's If-None-Match names the
// revision the store would answer key at now.
func (h *Handler) notModified(w http.ResponseWriter, r *http.Request, cr flagcache.CollectionReader, key string) bool {
	inm := r.Header["If-None-Match"]
	if len(inm) == 0 {
		return false
	}
	rev, ok, stale := cr.CollectionRevision()
	if !ok {
		return false
	}
	tag := collectionTag(rev, key)
	if !tagListed(inm, tag) {
		return false
	}
	collectionHeaders(w, tag, stale)
	w.WriteHeader(http.StatusNotModified)
	return true
}

// routeKey identifies a GET collection: its path and raw query.
func routeKey(r *http.Request) string { return r.URL.Path + "?" + r.URL.RawQuery }

// writeParts writes a JSON body made of parts, without copying them into
// one (a cached page is written as it is held).
func writeParts(w http.ResponseWriter, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	for _, p := range parts {
		w.Write(p)
	}
}

// listFlags serves GET /v1/flags: a page and the Count of the same filters,
// from one revision.
//
// A poll is answered before the query is parsed: its tag hashes the raw
// query, which was valid when the tag was sent.
func (h *Handler) listFlags(w http.ResponseWriter, r *http.Request) error {
	cr, ok := h.store.(flagcache.CollectionReader)
	key := routeKey(r)
	if ok && h.notModified(w, r, cr, key) {
		return nil
	}
	q, err := parseQuery(r.URL.Query(), true)
	if err != nil {
		return err
	}
	if !ok {
		return h.listFromStore(w, r, q)
	}
	c, err := cr.ReadList(r.Context(), q)
	if err != nil {
		return err
	}
	collectionHeaders(w, resultTag(c, key), c.Stale)
	total := strconv.AppendInt([]byte(`,"total":`), int64(c.Total), 10)
	writeParts(w, []byte(`{"flags":`), flagsJSON(c), append(total, '}'))
	return nil
}

// flagsJSON is the JSON array of a collection's flags.
func flagsJSON(c flagcache.Collection) []byte {
	if c.JSON != nil {
		return c.JSON
	}
	return flagcache.AppendStoredList(nil, c.Flags)
}

func (h *Handler) listFromStore(w http.ResponseWriter, r *http.Request, q flagcache.Query) error {
	flags, err := h.store.List(r.Context(), q)
	if err != nil {
		return err
	}
	total, err := h.store.Count(r.Context(), q)
	if err != nil {
		return err
	}
	if flags == nil {
		flags = []*flagcache.Stored{}
	}
	writeBody(w, http.StatusOK, (&wire.ListResponse{Flags: flags, Total: total}).AppendJSON(nil))
	return nil
}

// countFlags serves GET /v1/flags:count.
func (h *Handler) countFlags(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.Query(), false)
	if err != nil {
		return err
	}
	cr, ok := h.store.(flagcache.CollectionReader)
	if !ok {
		n, err := h.store.Count(r.Context(), q)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, wire.CountResponse{Count: n})
		return nil
	}
	key := routeKey(r)
	if h.notModified(w, r, cr, key) {
		return nil
	}
	c, err := cr.ReadCount(r.Context(), q)
	if err != nil {
		return err
	}
	collectionHeaders(w, resultTag(c, key), c.Stale)
	writeJSON(w, http.StatusOK, wire.CountResponse{Count: c.Total})
	return nil
}

// batchGet serves POST /v1/flags:batchGet. Its ETag hashes the ids in
// request order (the order of "missing"), so it names that batch only.
func (h *Handler) batchGet(w http.ResponseWriter, r *http.Request) error {
	var req wire.BatchGetRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.IDs == nil:
		return flagcache.Invalid("ids", "required: a list of flag ids")
	case len(req.IDs) > h.opts.MaxBatch:
		w.Header().Set(wire.MaxBatchHeader, strconv.Itoa(h.opts.MaxBatch))
		return flagcache.Invalid("ids", "at most %d ids per call, got %d", h.opts.MaxBatch, len(req.IDs))
	}
	var (
		found map[flagcache.ID]*flagcache.Stored
		err   error
	)
	if cr, ok := h.store.(flagcache.CollectionReader); ok {
		var key strings.Builder
		for _, id := range req.IDs {
			key.WriteString(string(id))
			key.WriteByte(' ')
		}
		if h.notModified(w, r, cr, key.String()) {
			return nil
		}
		var c flagcache.Collection
		if c, err = cr.ReadMany(r.Context(), req.IDs); err == nil {
			collectionHeaders(w, resultTag(c, key.String()), c.Stale)
		}
		found = c.Found
	} else {
		found, err = h.store.GetMany(r.Context(), req.IDs)
	}
	if err != nil {
		return err
	}
	resp := wire.BatchGetResponse{Flags: found, Missing: []flagcache.ID{}}
	if resp.Flags == nil {
		resp.Flags = map[flagcache.ID]*flagcache.Stored{}
	}
	seen := make(map[flagcache.ID]bool, len(req.IDs))
	for _, id := range req.IDs {
		if found[id] == nil && !seen[id] {
			resp.Missing = append(resp.Missing, id)
		}
		seen[id] = true
	}
	writeBody(w, http.StatusOK, resp.AppendJSON(nil))
	return nil
}

// modifiedSince serves GET /v1/flags:modifiedSince?since=RFC3339: a page
// of at most limit (≤ 1000) flags in (updated_at, id) order, continued by
// the next cursor (since, after_id) when it is full.
func (h *Handler) modifiedSince(w http.ResponseWriter, r *http.Request) error {
	p, err := parseModified(r.URL.Query())
	if err != nil {
		return err
	}
	var c flagcache.Collection
	if cr, ok := h.store.(flagcache.CollectionReader); ok {
		key := routeKey(r)
		if h.notModified(w, r, cr, key) {
			return nil
		}
		if c, err = cr.ReadModifiedSince(r.Context(), p.since, p.afterID, p.limit); err != nil {
			return err
		}
		collectionHeaders(w, resultTag(c, key), c.Stale)
	} else if c.Flags, err = flagcache.ModifiedSincePage(r.Context(), h.store, p.since, p.afterID, p.limit); err != nil {
		return err
	}
	end := []byte{'}'}
	if n := len(c.Flags); n == p.limit {
		last := c.Flags[n-1]
		// A time JSON cannot write (a year past 9999, which another writer
		// may put in Postgres' updated_at column) is no cursor: paging
		// ends there.
		if next, err := json.Marshal(wire.ModifiedCursor{Since: last.ModifiedAt(), AfterID: last.Definition.ID}); err == nil {
			end = append(append([]byte(`,"next":`), next...), '}')
		}
	}
	writeParts(w, []byte(`{"flags":`), flagsJSON(c), end)
	return nil
}

// changes serves GET /v1/changes?after=&limit=.
func (h *Handler) changes(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := parseChanges(r.URL.Query())
	if err != nil {
		return err
	}
	cr, ok := h.store.(flagcache.CollectionReader)
	if !ok {
		feed, err := h.store.Changes(r.Context(), after, limit)
		if err != nil {
			return err
		}
		if feed.Changes == nil {
			feed.Changes = []flagcache.Change{}
		}
		writeBody(w, http.StatusOK, feed.AppendJSON(nil))
		return nil
	}
	// Not answered from the revision alone: the source drops tombstones
	// past its retention by time, so one revision may have two pages
	// after the same cursor (and a cursor may expire). The page is read,
	// and its tag hashes what it holds.
	c, err := cr.ReadChanges(r.Context(), after, limit)
	if err != nil {
		return err
	}
	if c.JSON == nil {
		c.JSON = c.Feed.AppendJSON(nil)
	}
	tag := ""
	if c.Exact {
		tag = collectionTag(c.Revision, routeKey(r)+"\x00"+string(c.JSON))
	}
	collectionHeaders(w, tag, c.Stale)
	if tag != "" && tagListed(r.Header["If-None-Match"], tag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeParts(w, c.JSON)
	return nil
}
