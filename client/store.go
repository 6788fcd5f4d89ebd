package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// TierLocal is the tier GetHit reports for a read served by the client's
// local cache.
const TierLocal flagcache.Tier = "local"

// Get returns the flag id: from the local cache when it holds it, else
// GET /v1/flags/{id}. It returns an error matching flagcache.ErrNotFound
// for a missing or deleted flag.
func (c *Client) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	hit, err := c.GetHit(ctx, id)
	return hit.Stored, err
}

// GetHit is Get reporting the tier that served the read: TierLocal for
// the local cache, else the daemon's X-Flagcache-Tier. When the daemon
// cannot be reached and the local cache holds a copy, that copy is
// returned with Stale set.
func (c *Client) GetHit(ctx context.Context, id flagcache.ID) (flagcache.Hit, error) {
	if err := id.Validate(); err != nil {
		return flagcache.Hit{}, err
	}
	if err := ctx.Err(); err != nil {
		return flagcache.Hit{}, err
	}
	if c.cache == nil {
		return c.getRemote(ctx, id)
	}
	return c.getCached(ctx, id)
}

func (c *Client) getRemote(ctx context.Context, id flagcache.ID) (flagcache.Hit, error) {
	rep, err := c.do(ctx, call{method: http.MethodGet, path: flagPath(id), id: id, read: true})
	if err != nil {
		return flagcache.Hit{}, err
	}
	s, err := decodeStored(rep.body)
	if err != nil {
		return flagcache.Hit{}, err
	}
	tier := flagcache.Tier(rep.header.Get(wire.TierHeader))
	if tier == "" {
		tier = flagcache.TierSource
	}
	return flagcache.Hit{Stored: s, Tier: tier, Stale: rep.header.Get(wire.StaleHeader) == wire.HeaderTrue}, nil
}

// Exists reports whether the flag id exists (HEAD /v1/flags/{id}, or the
// local cache).
func (c *Client) Exists(ctx context.Context, id flagcache.ID) (bool, error) {
	if err := id.Validate(); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if c.cache != nil {
		if e, ok := c.cache.get(id); ok {
			return e.stored != nil, nil
		}
	}
	_, err := c.do(ctx, call{method: http.MethodHead, path: flagPath(id), id: id, read: true})
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, err
}

// GetMany returns the flags that exist among ids (POST /v1/flags:batchGet,
// in batches of at most the daemon's cap; ids the local cache holds are not
// asked for).
func (c *Client) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	if err := flagcache.ValidateIDs(ids); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[flagcache.ID]*flagcache.Stored, len(ids))
	ask := ids
	var fill fillToken
	if c.cache != nil {
		ask = nil
		for _, id := range ids {
			if e, ok := c.cache.get(id); ok {
				if e.stored != nil {
					out[id] = e.stored
				}
				continue
			}
			ask = append(ask, id)
		}
		fill = c.cache.beginFill()
	}
	ask = uniqueIDs(ask)
	found, err := c.batchGet(ctx, ask)
	if err != nil {
		return nil, err
	}
	for _, id := range ask {
		s := found[id]
		if c.cache != nil {
			c.cache.install(fill, id, entryOf(s))
			if s != nil {
				// The daemon's own cache may lag the feed this client's
				// watch reads: a copy newer than its answer wins, so
				// reads through one client do not go back (as in Get).
				if e, ok := c.cache.newer(id, s.Version); ok {
					s = e.stored
				}
			}
		}
		if s != nil {
			out[id] = s
		}
	}
	return out, nil
}

// batchGet reads ids in batches of at most wire.MaxPage, or the smaller cap
// a daemon names (wire.MaxBatchHeader) when it refuses a bigger batch:
// the client retries that batch split to the cap, and keeps to it.
func (c *Client) batchGet(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	out := make(map[flagcache.ID]*flagcache.Stored, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), wire.MaxPage)
		if limit := int(c.batchCap.Load()); limit > 0 {
			n = min(n, limit)
		}
		found, err := c.batchPage(ctx, ids[:n])
		if limit := batchLimit(err); limit > 0 && limit < n {
			c.batchCap.Store(int64(limit))
			continue
		}
		if err != nil {
			return nil, err
		}
		maps.Copy(out, found)
		ids = ids[n:]
	}
	return out, nil
}

// batchLimit returns the cap a batchGet's refusal names, 0 if err is not
// one.
func batchLimit(err error) int {
	var e *Error
	if !errors.As(err, &e) || e.Code != wire.CodeInvalidArgument || e.header == nil {
		return 0
	}
	n, err := strconv.Atoi(e.header.Get(wire.MaxBatchHeader))
	if err != nil || n < 1 {
		return 0
	}
	return n
}

func (c *Client) batchPage(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	body, err := json.Marshal(wire.BatchGetRequest{IDs: ids})
	if err != nil {
		return nil, err
	}
	rep, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/flags:batchGet", body: body, read: true})
	if err != nil {
		return nil, err
	}
	var res wire.BatchGetResponse
	if err := decode(rep.body, &res); err != nil {
		return nil, err
	}
	return res.Flags, nil
}

func uniqueIDs(ids []flagcache.ID) []flagcache.ID {
	seen := make(map[flagcache.ID]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// List returns the flags matching q (GET /v1/flags). A Limit of 0 (no
// limit) or above wire.MaxPage is served page by page; pages read while others
// write may overlap or skip a flag that moved, as offset paging does.
func (c *Client) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []*flagcache.Stored{}
	offset := q.Offset
	for {
		n := wire.MaxPage
		if q.Limit > 0 {
			n = min(q.Limit-len(out), wire.MaxPage)
		}
		vals := queryValues(q)
		vals.Set("offset", strconv.Itoa(offset))
		vals.Set("limit", strconv.Itoa(n))
		rep, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/flags", query: vals, read: true})
		if err != nil {
			return nil, err
		}
		var page wire.ListResponse
		if err := decode(rep.body, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Flags...)
		offset += len(page.Flags)
		if len(page.Flags) < n || (q.Limit > 0 && len(out) >= q.Limit) || offset >= page.Total {
			return out, nil
		}
	}
}

// Count returns how many flags match q's filters (GET /v1/flags:count).
func (c *Client) Count(ctx context.Context, q flagcache.Query) (int, error) {
	if err := q.Validate(); err != nil {
		return 0, err
	}
	rep, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/flags:count", query: queryValues(q), read: true})
	if err != nil {
		return 0, err
	}
	var res wire.CountResponse
	if err := decode(rep.body, &res); err != nil {
		return 0, err
	}
	return res.Count, nil
}

// queryValues encodes the filters of q (not Offset and Limit).
func queryValues(q flagcache.Query) url.Values {
	vals := url.Values{}
	if q.Status != "" {
		vals.Set("status", string(q.Status))
	}
	if q.Environment != "" {
		vals.Set("environment", q.Environment)
	}
	for _, t := range q.Tags {
		vals.Add("tag", t)
	}
	if q.Owner != "" {
		vals.Set("owner", q.Owner)
	}
	if q.IncludeArchived {
		vals.Set("include_archived", "true")
	}
	return vals
}

// Create stores a new flag (POST /v1/flags).
func (c *Client) Create(ctx context.Context, def *flagcache.Definition) (*flagcache.Stored, error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	return c.write(ctx, call{method: http.MethodPost, path: "/v1/flags", id: def.ID}, def)
}

// Update replaces the flag def.ID (PUT /v1/flags/{id}), with
// If-Match: "vN" when expectedVersion > 0.
func (c *Client) Update(ctx context.Context, def *flagcache.Definition, expectedVersion int64) (*flagcache.Stored, error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckVersion(expectedVersion); err != nil {
		return nil, err
	}
	return c.write(ctx, call{method: http.MethodPut, path: flagPath(def.ID), id: def.ID, ifMatch: expectedVersion}, def)
}

// write sends a definition and returns the stored flag, which the local
// cache takes (so the writer reads its own write at once).
func (c *Client) write(ctx context.Context, cl call, def *flagcache.Definition) (*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	cl.actor = actor
	cl.body = def.AppendJSON(nil) // as given: json.Marshal would escape <, > and &
	var fill fillToken
	if c.cache != nil {
		fill = c.cache.beginFill()
	}
	rep, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	s, err := decodeStored(rep.body)
	if err != nil {
		return nil, err
	}
	if c.cache != nil {
		c.cache.install(fill, s.Definition.ID, entryOf(s))
	}
	return s, nil
}

// Delete removes the flag id (DELETE /v1/flags/{id}, with If-Match when
// expectedVersion > 0) and returns the delete's change-feed entry.
//
// The API answers a delete with 204, no body, and the tombstone's version
// and the delete's revision in ETag and X-Flagcache-Revision. A 204
// without them (a proxy that drops headers) still means the delete
// succeeded: the Change then has Version expectedVersion+1 when
// expectedVersion > 0 (0 otherwise) and Revision 0.
func (c *Client) Delete(ctx context.Context, id flagcache.ID, expectedVersion int64) (flagcache.Change, error) {
	if _, err := flagcache.PrepareDelete(ctx, id, expectedVersion); err != nil {
		return flagcache.Change{}, err
	}
	actor := flagcache.ActorFrom(ctx) // validated: the attached one, or none
	var fill fillToken
	if c.cache != nil {
		fill = c.cache.beginFill()
	}
	rep, err := c.do(ctx, call{method: http.MethodDelete, path: flagPath(id), id: id, ifMatch: expectedVersion, actor: actor})
	if err != nil {
		return flagcache.Change{}, err
	}
	ch := flagcache.Change{Op: flagcache.OpDelete, ID: id, Actor: rep.header.Get(wire.ActorHeader)}
	if v, r, ok := tombstoneHeaders(rep.header); ok {
		ch.Version, ch.Revision = v, r
	} else if expectedVersion > 0 {
		ch.Version = expectedVersion + 1
	}
	if c.cache != nil && ch.Version > 0 {
		c.cache.install(fill, id, entry{version: ch.Version})
	} else if c.cache != nil {
		c.cache.drop(id)
	}
	return ch, nil
}

// tombstoneHeaders reads the tombstone's version (ETag) and revision
// (X-Flagcache-Revision) from a DELETE response.
func tombstoneHeaders(h http.Header) (version, revision int64, ok bool) {
	tag, rev := h.Get("ETag"), h.Get(wire.RevisionHeader)
	if tag == "" || rev == "" {
		return 0, 0, false
	}
	version, err := flagcache.ParseETag(tag)
	if err != nil {
		return 0, 0, false
	}
	revision, err = strconv.ParseInt(rev, 10, 64)
	return version, revision, err == nil && revision > 0
}

// ModifiedSince returns the flags updated after t, oldest first
// (GET /v1/flags:modifiedSince, page by page: the daemon serves at most
// 1000 flags a request and the cursor of the next page).
func (c *Client) ModifiedSince(ctx context.Context, t time.Time) ([]*flagcache.Stored, error) {
	var all []*flagcache.Stored
	since, afterID := t, flagcache.ID("")
	for {
		res, err := c.modifiedPage(ctx, since, afterID, wire.MaxPage)
		if err != nil {
			return nil, err
		}
		all = append(all, res.Flags...)
		if res.Next == nil || len(res.Flags) == 0 {
			return all, nil
		}
		since, afterID = res.Next.Since, res.Next.AfterID
	}
}

// ModifiedSincePage implements flagcache.ModifiedSincePager: one request.
func (c *Client) ModifiedSincePage(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) ([]*flagcache.Stored, error) {
	res, err := c.modifiedPage(ctx, since, afterID, min(limit, wire.MaxPage))
	if err != nil {
		return nil, err
	}
	if n := len(res.Flags); n > 0 && res.Next != nil {
		// The daemon's cursor: its store's updated_at of the last flag,
		// which for a row another writer stored need not be the
		// definition's (Stored.Modified).
		if last := res.Flags[n-1]; !res.Next.Since.Equal(last.Definition.Metadata.UpdatedAt) {
			last.Modified = res.Next.Since
		}
	}
	return res.Flags, nil
}

func (c *Client) modifiedPage(ctx context.Context, since time.Time, afterID flagcache.ID, limit int) (*wire.FlagsResponse, error) {
	vals := url.Values{"since": {since.UTC().Format(time.RFC3339Nano)}, "limit": {strconv.Itoa(limit)}}
	if afterID != "" {
		vals.Set("after_id", string(afterID))
	}
	rep, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/flags:modifiedSince", query: vals, read: true})
	if err != nil {
		return nil, err
	}
	var res wire.FlagsResponse
	if err := decode(rep.body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Changes returns the change feed after the revision after
// (GET /v1/changes). A limit of 0 (no limit) or above wire.MaxPage is read page
// by page; if an id is written again while paging it appears once, at its
// latest write, as in one read of a compacted feed.
func (c *Client) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	switch {
	case after < 0:
		return nil, flagcache.Invalid("after", "must not be negative")
	case limit < 0:
		return nil, flagcache.Invalid("limit", "must not be negative")
	}
	if limit > 0 && limit <= wire.MaxPage {
		return c.changesPage(ctx, after, limit)
	}
	out := &flagcache.ChangeFeed{}
	at := map[flagcache.ID]int{} // index in out.Changes
	for {
		n := wire.MaxPage
		if limit > 0 {
			n = min(limit-len(out.Changes), wire.MaxPage)
		}
		feed, err := c.changesPage(ctx, after, n)
		if err != nil {
			return nil, err
		}
		out.Revision = feed.Revision
		for _, ch := range feed.Changes {
			if i, ok := at[ch.ID]; ok {
				out.Changes[i].Op = "" // superseded: dropped below
			}
			at[ch.ID] = len(out.Changes)
			out.Changes = append(out.Changes, ch)
			after = ch.Revision
		}
		if len(feed.Changes) < n || (limit > 0 && len(out.Changes) >= limit) {
			break
		}
	}
	out.Changes = slices.DeleteFunc(out.Changes, func(ch flagcache.Change) bool { return ch.Op == "" })
	return out, nil
}

func (c *Client) changesPage(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	feed, _, err := c.changesReply(ctx, after, limit)
	return feed, err
}

// changesReply is changesPage with whether the daemon marked the page
// stale (served from its memory while its source is unreachable).
func (c *Client) changesReply(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, bool, error) {
	vals := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(limit)}}
	rep, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/changes", query: vals, read: true})
	if err != nil {
		return nil, false, err
	}
	var feed flagcache.ChangeFeed
	if err := decode(rep.body, &feed); err != nil {
		return nil, false, err
	}
	return &feed, rep.header.Get(wire.StaleHeader) == wire.HeaderTrue, nil
}

func decodeStored(body []byte) (*flagcache.Stored, error) {
	var s flagcache.Stored
	if err := decode(body, &s); err != nil {
		return nil, err
	}
	if s.Definition == nil {
		return nil, fmt.Errorf("client: the response has no definition: %s", truncate(string(body), 200))
	}
	return &s, nil
}

// decode decodes a success body; a body that does not decode is a server
// (or proxy) fault, not the caller's.
func decode(body []byte, v any) error {
	unmarshal := json.Unmarshal
	if u, ok := v.(json.Unmarshaler); ok { // bodies with flags: any nesting (decode.go)
		unmarshal = func(b []byte, _ any) error { return u.UnmarshalJSON(b) }
	}
	if err := unmarshal(body, v); err != nil {
		return fmt.Errorf("client: decoding the response: %w (body %s)", err, truncate(string(body), 200))
	}
	return nil
}
