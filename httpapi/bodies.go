package httpapi

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/flagcache/flagcache"
)

// The bodies that carry flags are written with flagcache's encoder, not
// json.Marshal: a definition is served as stored, and a row another writer
// nested deeper than encoding/json allows (10,000 levels; Postgres keeps
// them) must not turn a read of it, or of a list holding it, into a 500.

// AppendJSON appends {"flags": […], "total": N}.
func (r *ListResponse) AppendJSON(b []byte) []byte {
	b = append(b, `{"flags":`...)
	b = flagcache.AppendStoredList(b, r.Flags)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(r.Total), 10)
	return append(b, '}')
}

// AppendJSON appends {"flags": [...]} and "next" when set.
func (r *FlagsResponse) AppendJSON(b []byte) []byte {
	b = append(b, `{"flags":`...)
	b = flagcache.AppendStoredList(b, r.Flags)
	if r.Next != nil {
		next, _ := json.Marshal(r.Next) // a time and an id
		b = append(b, `,"next":`...)
		b = append(b, next...)
	}
	return append(b, '}')
}

// AppendJSON appends {"flags": {id: Stored}, "missing": [...]}, ids in
// order.
func (r *BatchGetResponse) AppendJSON(b []byte) []byte {
	ids := make([]flagcache.ID, 0, len(r.Flags))
	for id := range r.Flags {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = append(b, `{"flags":{`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, string(id)) // ids are [A-Za-z0-9._:-]
		b = append(b, ':')
		b = r.Flags[id].AppendJSON(b)
	}
	missing, _ := json.Marshal(r.Missing) // ids: nothing that can fail
	b = append(b, `},"missing":`...)
	b = append(b, missing...)
	return append(b, '}')
}
