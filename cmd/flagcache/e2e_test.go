package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

const checkoutJSON = `{"id":"new-checkout","name":"New checkout","kind":"boolean","default_value":false,
	"variations":[{"value":true},{"value":false}],
	"environments":{"production":{"enabled":true,"rollout":{"percent":10}},"staging":{"enabled":false}},
	"status":"active","metadata":{"tags":["checkout"],"owner":"team-payments","ticket":"PAY-1"},"x_other_writer":{"keep":true}}`

// want checks a response's status and, for errors, its code.
func want(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("got status %d, want %d; body %s", r.status, status, r.body)
	}
	if got := r.errorCode(); got != code {
		t.Fatalf("got error code %q, want %q; body %s", got, code, r.body)
	}
}

func mustStored(t *testing.T, r response) *flagcache.Stored {
	t.Helper()
	var s flagcache.Stored
	r.json(t, &s)
	return &s
}

// TestAPI walks every row of the API table of design.md, success and
// failure, on the embedded default source. Every response is validated
// against docs/openapi.yaml by testDaemon.do.
func TestAPI(t *testing.T) {
	d := startServe(t, nil)
	testAPI(t, d)
}

func testAPI(t *testing.T, d *testDaemon) {
	t.Run("POST /v1/flags creates: 201, ETag, Location", func(t *testing.T) {
		r := d.do(t, "POST", "/v1/flags", checkoutJSON)
		want(t, r, 201, "")
		s := mustStored(t, r)
		if s.Version != 1 || r.header.Get("ETag") != `"v1"` || r.header.Get("Location") != "/v1/flags/new-checkout" {
			t.Fatalf("got version %d, ETag %s, Location %s; want 1, \"v1\", /v1/flags/new-checkout", s.Version, r.header.Get("ETag"), r.header.Get("Location"))
		}
		if !strings.Contains(string(r.body), `"x_other_writer":{"keep":true}`) || !strings.Contains(string(r.body), `"rollout":{"percent":10}`) {
			t.Fatalf("unknown fields were dropped: %s", r.body)
		}
	})
	t.Run("POST /v1/flags of an existing id: 409", func(t *testing.T) {
		want(t, d.do(t, "POST", "/v1/flags", checkoutJSON), 409, "already_exists")
	})
	t.Run("POST /v1/flags invalid: 400", func(t *testing.T) {
		want(t, d.do(t, "POST", "/v1/flags", `{"id":"x","name":"X","kind":"color","default_value":1}`), 400, "invalid_argument")
	})
	d.do(t, "POST", "/v1/flags", `{"id":"old-banner","name":"Old banner","kind":"string","default_value":"hi","status":"archived","metadata":{"owner":"team-web"}}`)
	d.do(t, "POST", "/v1/flags", `{"id":"dark-mode","name":"Dark mode","kind":"boolean","default_value":true,"environments":{"staging":{"enabled":true}},"metadata":{"tags":["ui"]}}`)

	t.Run("GET /v1/flags/{id}: 200, ETag, tier", func(t *testing.T) {
		r := d.do(t, "GET", "/v1/flags/new-checkout", "")
		want(t, r, 200, "")
		if r.header.Get("ETag") != `"v1"` || r.header.Get("X-Flagcache-Tier") == "" {
			t.Fatalf("got ETag %q tier %q, want \"v1\" and a tier", r.header.Get("ETag"), r.header.Get("X-Flagcache-Tier"))
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id")
		}
	})
	t.Run("GET with matching If-None-Match: 304", func(t *testing.T) {
		r := d.do(t, "GET", "/v1/flags/new-checkout", "", `If-None-Match: "v1"`)
		want(t, r, 304, "")
		if len(r.body) != 0 {
			t.Fatalf("304 with a body: %s", r.body)
		}
	})
	t.Run("GET with stale If-None-Match: 200", func(t *testing.T) {
		want(t, d.do(t, "GET", "/v1/flags/new-checkout", "", `If-None-Match: "v7", W/"v8"`), 200, "")
	})
	t.Run("GET missing: 404", func(t *testing.T) {
		want(t, d.do(t, "GET", "/v1/flags/nope", ""), 404, "not_found")
	})
	t.Run("HEAD: 200 without body, 404", func(t *testing.T) {
		r := d.do(t, "HEAD", "/v1/flags/new-checkout", "")
		if r.status != 200 || len(r.body) != 0 || r.header.Get("ETag") != `"v1"` {
			t.Fatalf("got %d ETag %q body %q, want 200 \"v1\" empty", r.status, r.header.Get("ETag"), r.body)
		}
		if r := d.do(t, "HEAD", "/v1/flags/nope", ""); r.status != 404 {
			t.Fatalf("got %d, want 404", r.status)
		}
	})

	t.Run("PUT with If-Match: 200, then 412 with versions", func(t *testing.T) {
		body := strings.Replace(checkoutJSON, `"default_value":false`, `"default_value":true`, 1)
		r := d.do(t, "PUT", "/v1/flags/new-checkout", body, `If-Match: "v1"`)
		want(t, r, 200, "")
		if s := mustStored(t, r); s.Version != 2 || r.header.Get("ETag") != `"v2"` {
			t.Fatalf("got version %d ETag %s, want 2 \"v2\"", s.Version, r.header.Get("ETag"))
		}
		r = d.do(t, "PUT", "/v1/flags/new-checkout", body, `If-Match: "v1"`)
		want(t, r, 412, "version_conflict")
		var e struct {
			Error struct{ Expected, Actual int64 }
		}
		r.json(t, &e)
		if e.Error.Expected != 1 || e.Error.Actual != 2 {
			t.Fatalf("got expected %d actual %d, want 1 and 2", e.Error.Expected, e.Error.Actual)
		}
	})
	t.Run("PUT without id takes the path's; If-Match *", func(t *testing.T) {
		r := d.do(t, "PUT", "/v1/flags/dark-mode", `{"name":"Dark mode","kind":"boolean","default_value":false,"metadata":{"tags":["ui"]}}`, "If-Match: *")
		want(t, r, 200, "")
		if s := mustStored(t, r); s.Definition.ID != "dark-mode" || s.Version != 2 {
			t.Fatalf("got %s v%d, want dark-mode v2", s.Definition.ID, s.Version)
		}
	})
	t.Run("PUT body id differs: 400", func(t *testing.T) {
		want(t, d.do(t, "PUT", "/v1/flags/dark-mode", checkoutJSON), 400, "invalid_argument")
	})
	t.Run("PUT missing: 404", func(t *testing.T) {
		want(t, d.do(t, "PUT", "/v1/flags/nope", `{"name":"N","kind":"boolean","default_value":true}`), 404, "not_found")
	})

	t.Run("POST /v1/flags:batchGet: 200 flags and missing; 400", func(t *testing.T) {
		r := d.do(t, "POST", "/v1/flags:batchGet", `{"ids":["new-checkout","nope","dark-mode","nope"]}`)
		want(t, r, 200, "")
		var got struct {
			Flags   map[string]flagcache.Stored
			Missing []string
		}
		r.json(t, &got)
		if len(got.Flags) != 2 || got.Flags["dark-mode"].Version != 2 || fmt.Sprint(got.Missing) != "[nope]" {
			t.Fatalf("got %d flags, missing %v; want 2 flags, [nope]", len(got.Flags), got.Missing)
		}
		want(t, d.do(t, "POST", "/v1/flags:batchGet", `{"ids":["a"],"extra":1}`), 400, "invalid_argument")
	})

	t.Run("GET /v1/flags: filters, page, total; 400", func(t *testing.T) {
		cases := []struct {
			query string
			ids   string
			total int
		}{
			{"", "[dark-mode new-checkout]", 2},
			{"?include_archived=true", "[dark-mode new-checkout old-banner]", 3},
			{"?status=archived", "[old-banner]", 1},
			{"?tag=ui&tag=checkout", "[dark-mode new-checkout]", 2},
			{"?environment=production", "[new-checkout]", 1},
			{"?owner=team-payments", "[new-checkout]", 1},
			{"?limit=1", "[dark-mode]", 2},
			{"?offset=1&limit=1", "[new-checkout]", 2},
			{"?offset=5", "[]", 2},
		}
		for _, c := range cases {
			r := d.do(t, "GET", "/v1/flags"+c.query, "")
			want(t, r, 200, "")
			var got struct {
				Flags []flagcache.Stored
				Total int
			}
			r.json(t, &got)
			ids := []string{}
			for _, f := range got.Flags {
				ids = append(ids, string(f.Definition.ID))
			}
			if fmt.Sprint(ids) != c.ids || got.Total != c.total {
				t.Errorf("%s: got %v total %d, want %s total %d", c.query, ids, got.Total, c.ids, c.total)
			}
		}
		want(t, d.do(t, "GET", "/v1/flags?limit=5000", ""), 400, "invalid_argument")
	})
	t.Run("GET /v1/flags:count: 200; 400", func(t *testing.T) {
		r := d.do(t, "GET", "/v1/flags:count?tag=ui&tag=checkout", "")
		want(t, r, 200, "")
		var got struct{ Count int }
		if r.json(t, &got); got.Count != 2 {
			t.Fatalf("got count %d, want 2", got.Count)
		}
		want(t, d.do(t, "GET", "/v1/flags:count?status=bogus", ""), 400, "invalid_argument")
		want(t, d.do(t, "GET", "/v1/flags:count?limit=1", ""), 400, "invalid_argument")
	})
	t.Run("GET /v1/flags:modifiedSince: 200; 400", func(t *testing.T) {
		since := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		r := d.do(t, "GET", "/v1/flags:modifiedSince?since="+since, "")
		want(t, r, 200, "")
		var got struct{ Flags []flagcache.Stored }
		if r.json(t, &got); len(got.Flags) != 3 {
			t.Fatalf("got %d flags, want 3", len(got.Flags))
		}
		want(t, d.do(t, "GET", "/v1/flags:modifiedSince", ""), 400, "invalid_argument")
		want(t, d.do(t, "GET", "/v1/flags:modifiedSince?since=yesterday", ""), 400, "invalid_argument")
	})

	t.Run("DELETE with stale If-Match: 412; DELETE: 204; again: 404", func(t *testing.T) {
		want(t, d.do(t, "DELETE", "/v1/flags/old-banner", "", `If-Match: "v9"`), 412, "version_conflict")
		r := d.do(t, "DELETE", "/v1/flags/old-banner", "", `If-Match: "v1"`)
		if r.status != 204 || len(r.body) != 0 {
			t.Fatalf("got %d %q, want 204 and no body", r.status, r.body)
		}
		want(t, d.do(t, "DELETE", "/v1/flags/old-banner", ""), 404, "not_found")
	})

	t.Run("GET /v1/changes: pages; 400", func(t *testing.T) {
		r := d.do(t, "GET", "/v1/changes?after=0&limit=2", "")
		want(t, r, 200, "")
		var feed flagcache.ChangeFeed
		r.json(t, &feed)
		if len(feed.Changes) != 2 || feed.Revision != 6 {
			t.Fatalf("got %d changes at revision %d, want 2 at 6: %s", len(feed.Changes), feed.Revision, r.body)
		}
		r = d.do(t, "GET", fmt.Sprintf("/v1/changes?after=%d", feed.Changes[1].Revision), "")
		feed = flagcache.ChangeFeed{}
		r.json(t, &feed)
		last := feed.Changes[len(feed.Changes)-1]
		if last.Op != flagcache.OpDelete || last.ID != "old-banner" || last.Flag != nil {
			t.Fatalf("got last change %+v, want the delete of old-banner", last)
		}
		want(t, d.do(t, "GET", "/v1/changes?after=-1", ""), 400, "invalid_argument")
		want(t, d.do(t, "GET", "/v1/changes?limit=1001", ""), 400, "invalid_argument")
		want(t, d.do(t, "GET", "/v1/changes?after=99", ""), 410, "resync_needed")
	})

	t.Run("GET /v1/watch: backlog; 400; 410", func(t *testing.T) {
		w := d.watch(t, "?after=0")
		defer w.close()
		for _, wantID := range []string{"new-checkout", "dark-mode", "old-banner"} {
			ev := w.next(t)
			if ev.data.ID != flagcache.ID(wantID) {
				t.Fatalf("got event for %s, want %s", ev.data.ID, wantID)
			}
		}
		want(t, d.do(t, "GET", "/v1/watch?after=x", ""), 400, "invalid_argument")
		want(t, d.do(t, "GET", "/v1/watch", "", "Last-Event-ID: 99"), 410, "resync_needed")
	})

	t.Run("operations: healthz, readyz, metrics", func(t *testing.T) {
		want(t, d.do(t, "GET", "/healthz", ""), 200, "")
		want(t, d.do(t, "GET", "/readyz", ""), 200, "")
		r := d.do(t, "GET", "/metrics", "")
		if r.status != 200 || !strings.Contains(string(r.body), `http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/v1/flags/{id}"`) {
			t.Fatalf("got %d, want 200 with the request histogram:\n%s", r.status, r.body)
		}
	})
	t.Run("unknown route 404, wrong method 405", func(t *testing.T) {
		want(t, d.do(t, "GET", "/v2/flags", ""), 404, "not_found")
		r := d.do(t, "DELETE", "/v1/flags", "")
		want(t, r, 405, "method_not_allowed")
		if r.header.Get("Allow") != "GET, HEAD, POST" {
			t.Fatalf("got Allow %q, want GET, HEAD, POST", r.header.Get("Allow"))
		}
	})
}
