package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/wire"
)

// oddRowShapes are rows another writer (plain SQL) may store in shapes
// flagcache does not model.
var oddRowShapes = []struct{ id, definition string }{
	{"odd-created-at", `{"id":"odd-created-at","name":"Odd created","kind":"boolean","default_value":true,"metadata":{"created_at":"yesterday"}}`},
	{"odd-tags", `{"id":"odd-tags","name":"Odd tags","kind":"boolean","default_value":true,"metadata":{"tags":"t"}}`},
	{"odd-environments", `{"id":"odd-environments","name":"Odd envs","kind":"boolean","default_value":true,"environments":["production"]}`},
	{"odd-name", `{"id":"odd-name","name":5,"kind":"boolean","default_value":true}`},
	{"odd-no-kind", `{"id":"odd-no-kind","name":"No kind","default_value":true}`},
	{"odd-deep", `{"id":"odd-deep","name":"Deep","kind":"json","default_value":` + strings.Repeat(`{"a":`, 11000) + `1` + strings.Repeat(`}`, 11000) + `}`},
	{"odd-not-an-object", `["not", "an", "object"]`},
	{"odd-null", `null`},
	{"odd-id", `{"id":"someone-else","name":"Odd id","kind":"boolean","default_value":true,"environments":{"production":"on"}}`},
	{"odd-default-null", `{"id":"odd-default-null","name":"Null default","kind":"number","default_value":null,"environments":{"production":{"enabled":true}}}`},
	// No updated_at in the definition: Postgres orders modifiedSince by its
	// column, and the cursor must follow it.
	{"odd-no-metadata", `{"id":"odd-no-metadata","name":7,"kind":"boolean","default_value":true,"environments":{"production":{"enabled":true}}}`},
}

// TestOddRowsEveryEndpoint: through a running daemon (Postgres and Redis,
// the sidecar shape), each row in a shape flagcache does not model, written
// by plain SQL, × each read endpoint: 200, the row served as stored and
// marked, the other flags intact. A watch stream and a client's local
// cache opened before the odd rows keep delivering and stay coherent.
func TestOddRowsEveryEndpoint(t *testing.T) {
	env := redisEnv(t, postgresEnv(t))
	d := startServe(t, env)
	raw := pgtest.RawWriter(t, env["FLAGCACHE_POSTGRES_SCHEMA"])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, id := range []string{"normal-a", "normal-b"} {
		r := d.do(t, "POST", "/v1/flags", `{"id":"`+id+`","name":"`+id+`","kind":"boolean","default_value":false,"metadata":{"tags":["t"]}}`)
		want(t, r, 201, "")
	}
	events := watch(t, ctx, d)
	c, err := client.New(d.base, client.WithLocalCache(100))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the client's watch stream", func() bool { return c.Stats().Connected })
	if _, err := c.Get(ctx, "normal-a"); err != nil { // cached
		t.Fatal(err)
	}

	// First every shape encoding/json can parse, with every response
	// checked against docs/openapi.yaml; then the row nested past it
	// (whose bodies the spec's validator cannot read).
	written := []string{"normal-a", "normal-b"}
	var odd []string
	for _, row := range oddRowShapes {
		if row.id == "odd-deep" {
			checkEndpoints(t, d, written, odd, d.do)
		}
		if err := raw(ctx, flagcache.ID(row.id), []byte(row.definition)); err != nil {
			t.Fatalf("raw write of %s: %v", row.id, err)
		}
		written = append(written, row.id)
		odd = append(odd, row.id)
	}
	checkEndpoints(t, d, written, odd, d.doUnchecked)

	// Written after the odd rows: the stream opened before delivers it, and
	// the local cache serves it.
	r := d.do(t, "PUT", "/v1/flags/normal-a", `{"id":"normal-a","name":"normal-a","kind":"boolean","default_value":true}`)
	want(t, r, 200, "")
	var upd flagcache.Stored
	if err := upd.UnmarshalJSON(r.body); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for !seen[itoa(upd.Revision)] {
		select {
		case id, ok := <-events:
			if !ok {
				t.Fatalf("the watch stream ended; saw %v", seen)
			}
			seen[id] = true
		case <-ctx.Done():
			t.Fatalf("the watch stream did not deliver revision %d after the odd rows; saw %v", upd.Revision, seen)
		}
	}
	waitFor(t, "the local cache to serve version 2", func() bool {
		f, err := c.Get(ctx, "normal-a")
		return err == nil && f.Version == 2
	})
	for _, row := range oddRowShapes {
		if f, err := c.Get(ctx, flagcache.ID(row.id)); err != nil || f.Malformed == "" {
			t.Errorf("client Get(%s): %v, %v", row.id, f, err)
		}
	}
	if !c.Stats().Connected {
		t.Errorf("the client's watch stream is down: %+v", c.Stats())
	}
}

// watch opens GET /v1/watch and sends the id of every event.
func watch(t *testing.T, ctx context.Context, d *testDaemon) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", d.base+"/v1/watch?after=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("watch: %s", res.Status)
	}
	out := make(chan string, 1000)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				out <- id
			}
		}
	}()
	t.Cleanup(func() { res.Body.Close(); wg.Wait() })
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type doFunc func(t *testing.T, method, path, body string, headers ...string) response

// doUnchecked is do without the check against docs/openapi.yaml, for
// bodies nested past what its validator (encoding/json) reads.
func (d *testDaemon) doUnchecked(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	res, err := d.client.Do(d.request(t, method, path, body, headers...))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, data}
}

// checkEndpoints reads the flags all (odd among them) through every read
// endpoint: 200, every flag there, the odd ones marked.
func checkEndpoints(t *testing.T, d *testDaemon, all, odd []string, do doFunc) {
	t.Helper()
	phase := strconv.Itoa(len(all))
	body := func(r response) string { return string(r.body) }
	contains := func(t *testing.T, what, text string, ids []string) {
		t.Helper()
		for _, id := range ids {
			if !strings.Contains(text, `"`+id+`"`) {
				t.Errorf("%s lacks %s", what, id)
			}
		}
	}
	for _, id := range odd {
		t.Run(phase+"/get/"+id, func(t *testing.T) {
			r := do(t, "GET", "/v1/flags/"+id, "")
			want(t, r, 200, "")
			var s flagcache.Stored
			if err := s.UnmarshalJSON(r.body); err != nil {
				t.Fatal(err)
			}
			if s.Malformed == "" || r.header.Get("X-Flagcache-Malformed") != "true" {
				t.Errorf("not marked: malformed %q, header %q", s.Malformed, r.header.Get("X-Flagcache-Malformed"))
			}
			if s.Definition == nil || s.Definition.ID != flagcache.ID(id) {
				t.Errorf("definition %v", s.Definition)
			}
		})
	}
	t.Run(phase+"/batchGet", func(t *testing.T) {
		ids, _ := json.Marshal(all)
		r := do(t, "POST", "/v1/flags:batchGet", `{"ids":`+string(ids)+`}`)
		want(t, r, 200, "")
		contains(t, "batchGet", body(r), all)
		if !strings.HasSuffix(body(r), `"missing":[]}`) {
			t.Errorf("batchGet reports missing flags: …%s", body(r)[max(0, len(r.body)-80):])
		}
	})
	t.Run(phase+"/list", func(t *testing.T) {
		r := do(t, "GET", "/v1/flags?limit=1000", "")
		want(t, r, 200, "")
		contains(t, "list", body(r), all)
		if total := `"total":` + strconv.Itoa(len(all)) + `}`; !strings.HasSuffix(body(r), total) {
			t.Errorf("list: want %s, got …%s", total, body(r)[max(0, len(r.body)-40):])
		}
		r = do(t, "GET", "/v1/flags?tag=t", "")
		want(t, r, 200, "")
		if strings.Contains(body(r), "odd-tags") || !strings.HasSuffix(body(r), `"total":2}`) {
			t.Errorf("tag filter (tags that are a string are no tags): %s", body(r))
		}
	})
	t.Run(phase+"/count", func(t *testing.T) {
		r := do(t, "GET", "/v1/flags:count", "")
		want(t, r, 200, "")
		if body(r) != `{"count":`+strconv.Itoa(len(all))+`}` {
			t.Errorf("count: %s", body(r))
		}
	})
	t.Run(phase+"/changes", func(t *testing.T) {
		r := do(t, "GET", "/v1/changes?after=0&limit=1000", "")
		want(t, r, 200, "")
		contains(t, "changes", body(r), all)
		n := 0
		for after := int64(0); ; n++ { // one by one: the feed passes every row
			r := do(t, "GET", "/v1/changes?limit=1&after="+strconv.FormatInt(after, 10), "")
			want(t, r, 200, "")
			var feed flagcache.ChangeFeed
			if err := feed.UnmarshalJSON(r.body); err != nil {
				t.Fatal(err)
			}
			if len(feed.Changes) == 0 {
				break
			}
			after = feed.Changes[0].Revision
		}
		if n != len(all) {
			t.Errorf("the feed one by one: %d changes, want %d", n, len(all))
		}
	})
	t.Run(phase+"/modifiedSince", func(t *testing.T) {
		r := do(t, "GET", "/v1/flags:modifiedSince?since=2000-01-01T00:00:00Z&limit=1000", "")
		want(t, r, 200, "")
		contains(t, "modifiedSince", body(r), []string{"normal-a", "normal-b"})
	})
	t.Run(phase+"/modifiedSince-paged", func(t *testing.T) {
		seen := map[string]int{}
		query := "since=2000-01-01T00:00:00Z&limit=1"
		for range len(all) + 2 {
			r := do(t, "GET", "/v1/flags:modifiedSince?"+query, "")
			want(t, r, 200, "")
			var next *wire.ModifiedCursor
			err := flagcache.EachMember(r.body, func(name string, raw []byte) error {
				switch name {
				case "flags":
					return flagcache.EachElement(raw, func(raw []byte) error {
						var s flagcache.Stored
						err := s.UnmarshalJSON(raw)
						seen[string(s.Definition.ID)]++
						return err
					})
				case "next":
					next = new(wire.ModifiedCursor)
					return json.Unmarshal(raw, next)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if next == nil {
				break
			}
			query = "limit=1&since=" + url.QueryEscape(next.Since.Format(time.RFC3339Nano)) + "&after_id=" + string(next.AfterID)
		}
		for _, id := range all {
			if seen[id] != 1 {
				t.Errorf("paging modifiedSince one by one served %s %d times, want once (%v)", id, seen[id], seen)
			}
		}
	})
	t.Run(phase+"/ofrep", func(t *testing.T) {
		for _, id := range all {
			r := d.doUnchecked(t, "POST", "/ofrep/v1/evaluate/flags/"+id, `{"context":{"environment":"production"}}`)
			// An odd value the evaluation needs is a parse error, not
			// a confident answer.
			needed := id == "odd-id" || id == "odd-default-null"
			if r.status >= 500 || needed && !strings.Contains(string(r.body), `"PARSE_ERROR"`) {
				t.Errorf("OFREP %s: %d %.300s", id, r.status, r.body)
			}
		}
		r := d.doUnchecked(t, "POST", "/ofrep/v1/evaluate/flags", `{"context":{"environment":"production"}}`)
		want(t, r, 200, "")
	})
	t.Run(phase+"/export", func(t *testing.T) {
		out := d.ok(t, "", "export")
		contains(t, "export", out, []string{"normal-a", "normal-b", "odd-name", "odd-tags"})
	})
}
