package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// The collection scenarios (issue 16) read what SDKs and sidecars mostly
// read: pages of the flag list. list GETs a filtered page of up to 100
// flags; poll GETs the same pages with If-None-Match, as a poller that
// already has them does. Each runs the daemon beside a static server that
// returns the very bytes the daemon returned for each page (fetched once,
// right before the scenario) and, for poll, answers 304 when the ETag
// matches, so every figure is a ratio from one run.

// listPages is how many distinct pages the collection scenarios read: one
// per team tag of the data set (makeDefinition).
const listPages = 20

// page is one list page as the daemon served it.
type page struct {
	query      string // raw query of GET /v1/flags
	body       []byte // the daemon's response body
	etag       string // the daemon's ETag; "" when it sent none
	staticETag string // the static server's: the daemon's, else a hash of body
}

// pageQueries returns the raw queries of the pages: a tag filter, limit
// 100.
func pageQueries(flags int) []string {
	out := make([]string, min(listPages, flags))
	for k := range out {
		out[k] = fmt.Sprintf("tag=team-%02d&limit=100", k)
	}
	return out
}

// fetchPages reads every page from the daemon.
func (b *bench) fetchPages(ctx context.Context) ([]page, error) {
	var pages []page
	for _, q := range pageQueries(b.opts.Flags) {
		f, err := b.target.fetch(ctx, b.target.base+"/v1/flags?"+q, "")
		if err != nil {
			return nil, fmt.Errorf("GET /v1/flags?%s: %w", q, err)
		}
		p := page{query: q, body: f.body, etag: f.etag, staticETag: f.etag}
		if p.staticETag == "" {
			sum := sha256.Sum256(f.body)
			p.staticETag = `"` + hex.EncodeToString(sum[:12]) + `"`
		}
		pages = append(pages, p)
	}
	return pages, nil
}

// statusCounts counts the statuses of a target's requests.
type statusCounts struct{ ok, notModified atomic.Int64 }

func (c *statusCounts) add(status int) {
	if status == http.StatusNotModified {
		c.notModified.Add(1)
	} else {
		c.ok.Add(1)
	}
}

func (c *statusCounts) reset() {
	c.ok.Store(0)
	c.notModified.Store(0)
}

func (c *statusCounts) snapshot() map[string]int64 {
	out := map[string]int64{}
	if n := c.ok.Load(); n > 0 {
		out[strconv.Itoa(http.StatusOK)] = n
	}
	if n := c.notModified.Load(); n > 0 {
		out[strconv.Itoa(http.StatusNotModified)] = n
	}
	return out
}

// pageOp reads page i mod len(urls) of h; with etags, as a poll sending
// If-None-Match, its statuses counted in counts.
func pageOp(h *httpTarget, urls, etags []string, counts *statusCounts) op {
	return func(ctx context.Context, i int) (bool, Tier, error) {
		k := i % len(urls)
		if etags == nil {
			tier, err := h.get(ctx, urls[k])
			return false, tier, err
		}
		status, tier, err := h.request(ctx, urls[k], etags[k])
		if err == nil {
			counts.add(status)
		}
		return false, tier, err
	}
}

// collection runs the list or the poll scenario.
func (b *bench) collection(ctx context.Context, scenario string) (*Steady, error) {
	o := &b.opts
	pages, err := b.fetchPages(ctx)
	if err != nil {
		return nil, err
	}
	static, err := startStatic(ctx, b.ds, pages)
	if err != nil {
		return nil, err
	}
	defer static.close(context.WithoutCancel(ctx))
	sh, _ := newHTTPTarget(static.url(), "", o.Conns)
	defer sh.close()

	var daemonURLs, staticURLs, etags []string
	size, tagged := 0, 0
	for _, p := range pages {
		daemonURLs = append(daemonURLs, b.target.base+"/v1/flags?"+p.query)
		staticURLs = append(staticURLs, sh.base+"/v1/flags?"+p.query)
		etags = append(etags, p.staticETag)
		size += len(p.body)
		if p.etag != "" {
			tagged++
		}
	}
	poll := scenario == ScenarioPoll
	what := "GET"
	if !poll {
		etags = nil
	} else {
		what = "GET with If-None-Match"
	}
	desc := fmt.Sprintf("%s /v1/flags?tag=team-NN&limit=100 (%d pages, %.1f KB each on average): the daemon and a static server returning the same bytes, %d conns, %d rounds of %v per target after a %v warm-up",
		what, len(pages), float64(size)/float64(len(pages))/1000, o.Conns, o.Rounds, (o.Duration / time.Duration(o.Rounds)).Round(time.Millisecond), max(o.Warmup, 0))
	daemonCounts, staticCounts := &statusCounts{}, &statusCounts{}
	targets := []*runTarget{
		{name: "daemon", daemon: true, newOp: func(int) op { return pageOp(b.target, daemonURLs, etags, daemonCounts) }},
		{name: "static", pid: static.pid(), newOp: func(int) op { return pageOp(sh, staticURLs, etags, staticCounts) }},
	}
	if poll {
		targets[0].statuses, targets[1].statuses = daemonCounts, staticCounts
		flagURLs := b.target.flagURLs(b.ds)
		targets = append(targets, &runTarget{name: "daemon-get", daemon: true, newOp: func(int) op { return httpOp(b.target, flagURLs) }})
		desc += fmt.Sprintf("; daemon-get is the daemon's GET of one flag (the read scenario's request) in the same rounds; the daemon sent an ETag on %d of the %d pages", tagged, len(pages))
	}
	st := &Steady{Description: desc}
	w := workload{flags: o.Flags, zipf: o.Zipf, conns: o.Conns, seed: o.Seed + 77<<20}
	if err := b.interleave(ctx, targets, w); err != nil {
		return nil, err
	}
	b.finish(st, targets, nil)
	return st, nil
}
