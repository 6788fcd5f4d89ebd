package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// History returns the kept versions of id, newest first
// (GET /v1/flags/{id}/history). A limit of 0 (all) or above wire.MaxPage is
// read page by page.
func (c *Client) History(ctx context.Context, id flagcache.ID, before int64, limit int) (*flagcache.HistoryPage, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckHistoryPage(before, limit); err != nil {
		return nil, err
	}
	out := &flagcache.HistoryPage{Versions: []flagcache.HistoryEntry{}}
	for {
		n := wire.MaxPage
		if limit > 0 {
			n = min(limit-len(out.Versions), wire.MaxPage)
		}
		page, err := c.historyPage(ctx, id, before, n)
		if err != nil {
			return nil, err
		}
		out.Versions = append(out.Versions, page.Versions...)
		out.Next = page.Next
		if page.Next == 0 || (limit > 0 && len(out.Versions) >= limit) {
			return out, nil
		}
		before = page.Next
	}
}

func (c *Client) historyPage(ctx context.Context, id flagcache.ID, before int64, limit int) (*flagcache.HistoryPage, error) {
	vals := url.Values{"limit": {strconv.Itoa(limit)}}
	if before > 0 {
		vals.Set("before", strconv.FormatInt(before, 10))
	}
	rep, err := c.do(ctx, call{method: http.MethodGet, path: flagPath(id) + "/history", query: vals, id: id, read: true})
	if err != nil {
		return nil, err
	}
	var page flagcache.HistoryPage
	if err := decode(rep.body, &page); err != nil {
		return nil, err
	}
	if page.Versions == nil {
		page.Versions = []flagcache.HistoryEntry{}
	}
	return &page, nil
}

// GetVersion returns version n of id as that write stored it
// (GET /v1/flags/{id}/versions/{n}).
func (c *Client) GetVersion(ctx context.Context, id flagcache.ID, version int64) (*flagcache.Stored, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckVersionNumber(version); err != nil {
		return nil, err
	}
	path := flagPath(id) + "/versions/" + strconv.FormatInt(version, 10)
	rep, err := c.do(ctx, call{method: http.MethodGet, path: path, id: id, read: true})
	if err != nil {
		return nil, err
	}
	return decodeStored(rep.body)
}

// actorOf returns the actor a write with ctx names, refusing a bad one
// before anything is sent, as the stores do.
func actorOf(ctx context.Context) (string, error) {
	if _, err := flagcache.WriteActor(ctx); err != nil {
		return "", err
	}
	return flagcache.ActorFrom(ctx), nil // "" when none is attached: the daemon decides
}
