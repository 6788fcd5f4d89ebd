package wire

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/flagcache/flagcache"
)

// The bodies of one flag (flagcache.Stored), of the change feed
// (flagcache.ChangeFeed) and of history (flagcache.HistoryPage) are the
// domain's own types. The bodies below hold flags, so they are written and
// read with flagcache's codec, not encoding/json: a definition is served
// as stored, and a row another writer nested deeper than encoding/json
// allows (10,000 levels; Postgres keeps them) must neither turn a read of
// it, or of a list holding it, into a 500 nor fail to reach the caller.

// ListResponse is the body of GET /v1/flags: a page and the Count of the
// same filters.
type ListResponse struct {
	Flags []*flagcache.Stored `json:"flags"`
	Total int                 `json:"total"`
}

// CountResponse is the body of GET /v1/flags:count.
type CountResponse struct {
	Count int `json:"count"`
}

// BatchGetRequest is the body of POST /v1/flags:batchGet: at most the
// daemon's cap of ids (MaxPage unless configured lower).
type BatchGetRequest struct {
	IDs []flagcache.ID `json:"ids"`
}

// BatchGetResponse is its answer: the flags found by id, and the ids
// missing, in request order without duplicates.
type BatchGetResponse struct {
	Flags   map[flagcache.ID]*flagcache.Stored `json:"flags"`
	Missing []flagcache.ID                     `json:"missing"`
}

// FlagsResponse is the body of GET /v1/flags:modifiedSince: a page of
// flags and, when the page is full, the cursor of the next one.
type FlagsResponse struct {
	Flags []*flagcache.Stored `json:"flags"`
	Next  *ModifiedCursor     `json:"next,omitempty"`
}

// ModifiedCursor continues a modifiedSince page: send since and after_id
// as the parameters of the next request.
type ModifiedCursor struct {
	Since   time.Time    `json:"since"`
	AfterID flagcache.ID `json:"after_id"`
}

// AppendJSON appends {"flags": […], "total": N}.
func (r *ListResponse) AppendJSON(b []byte) []byte {
	b = append(b, `{"flags":`...)
	b = flagcache.AppendStoredList(b, r.Flags)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(r.Total), 10)
	return append(b, '}')
}

// UnmarshalJSON implements json.Unmarshaler; flags of any nesting.
func (r *ListResponse) UnmarshalJSON(b []byte) error {
	*r = ListResponse{}
	return flagcache.EachMember(b, func(name string, raw []byte) (err error) {
		switch name {
		case "flags":
			r.Flags, err = decodeStoredList(raw)
		case "total":
			r.Total, err = strconv.Atoi(string(raw))
		}
		return err
	})
}

// AppendJSON appends {"flags": […]} and "next" when set.
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

// UnmarshalJSON implements json.Unmarshaler; flags of any nesting.
func (r *FlagsResponse) UnmarshalJSON(b []byte) error {
	*r = FlagsResponse{}
	return flagcache.EachMember(b, func(name string, raw []byte) (err error) {
		switch name {
		case "flags":
			r.Flags, err = decodeStoredList(raw)
		case "next":
			err = json.Unmarshal(raw, &r.Next) // a time and an id
		}
		return err
	})
}

// AppendJSON appends {"flags": {id: Stored}, "missing": […]}, ids in
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

// UnmarshalJSON implements json.Unmarshaler; flags of any nesting.
func (r *BatchGetResponse) UnmarshalJSON(b []byte) error {
	*r = BatchGetResponse{Flags: map[flagcache.ID]*flagcache.Stored{}}
	return flagcache.EachMember(b, func(name string, raw []byte) error {
		switch name {
		case "flags":
			return flagcache.EachMember(raw, func(id string, raw []byte) error {
				s := new(flagcache.Stored)
				if err := s.UnmarshalJSON(raw); err != nil {
					return err
				}
				r.Flags[flagcache.ID(id)] = s
				return nil
			})
		case "missing":
			return json.Unmarshal(raw, &r.Missing)
		}
		return nil
	})
}

func decodeStoredList(raw []byte) ([]*flagcache.Stored, error) {
	out := []*flagcache.Stored{}
	err := flagcache.EachElement(raw, func(raw []byte) error {
		s := new(flagcache.Stored)
		if err := s.UnmarshalJSON(raw); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// Event names of the watch stream (GET /v1/watch, Server-Sent Events)
// beside the ops flagcache.OpUpsert and flagcache.OpDelete, whose data is
// a WatchEvent and whose id is the revision.
const (
	// EventResync: the cursor expired while streaming; the data is an
	// ErrorDetail and the stream ends.
	EventResync = "resync"
	// EventError: the stream cannot make progress (the source does not
	// answer); the data is an ErrorBody and the stream ends.
	EventError = "error"
)

// WatchEvent is the data of an upsert or delete event of the watch
// stream: the write, not the flag's content.
type WatchEvent struct {
	ID       flagcache.ID `json:"id"`
	Version  int64        `json:"version"`
	Revision int64        `json:"revision"`
	Actor    string       `json:"actor,omitempty"`
}
