package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/wire"
)

// The fuzz targets drive the real handler over a memstore holding a few
// flags, one fresh store per input, through httptest. Every input must get
// a response that is not 5xx, whose body is the error JSON or the success
// shape of its route, and a request that failed must have written nothing.

// fuzzRoutes are the query-taking routes FuzzQueryString picks from.
var fuzzRoutes = []string{"/v1/flags", "/v1/flags:count", "/v1/flags:modifiedSince", "/v1/changes"}

// FuzzQueryString: any query string on the routes that parse one.
func FuzzQueryString(f *testing.F) {
	for _, s := range []struct {
		route uint8
		query string
	}{
		{0, "status=active&environment=production&tag=a&tag=b&owner=team&include_archived=true&offset=1&limit=2"},
		{0, "limit=1000&offset=2147483647"},
		{0, "limit=0"},
		{0, "offset=-1&limit=99999999999999999999"},
		{0, "status=active&status=archived"},
		{0, "tag=&tag=%00&owner=%27%20OR%201%3D1%20--"},
		{0, "include_archived=maybe"},
		{0, "colour=red"},
		{0, "%zz=1&a=%"},
		{0, ";;&&==;"},
		{1, "environment=PROD"},
		{1, "status=retired"},
		{1, "tag=x%27%29%3B%20DROP%20TABLE%20feature_flags%3B--"},
		{2, "since=2026-01-01T00:00:00Z"},
		{2, "since=2026-01-01T00:00:00+01:00"},
		{2, "since=9999-12-31T23:59:59.999999999-23:59"},
		{2, ""},
		{3, "after=0&limit=1"},
		{3, "after=-1"},
		{3, "after=9223372036854775807&limit=1000"},
		{3, "after=9223372036854775808"},
	} {
		f.Add(s.route, s.query)
	}
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		fz := newFuzzHandler(t)
		req := fz.readRequest(t, "GET "+path+"?"+query)
		if req == nil {
			return // net/http's server refuses it before the handler
		}
		fz.check(t, req)
	})
}

// fuzzMethods are the methods FuzzRequest picks from.
var fuzzMethods = []string{"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS"}

// FuzzRequest: any method, request target, If-Match and body.
func FuzzRequest(f *testing.F) {
	valid := `{"name":"N","kind":"boolean","default_value":true}`
	for _, s := range []struct {
		method          uint8
		target, ifMatch string
		body            string
	}{
		{0, "/v1/flags/flag-a", "", ""},
		{1, "/v1/flags/flag-a", "", ""},
		{2, "/v1/flags/flag-a", `"v1"`, valid},
		{2, "/v1/flags/flag-a", `W/"v1"`, `{"id":"flag-a","name":"N","kind":"json","default_value":{"x":[1,"\u00e9"]},"extra":{"keep":true}}`},
		{2, "/v1/flags/flag-a", `"v2"`, valid},
		{2, "/v1/flags/flag-a", `*`, `{"id":"other","name":"N","kind":"boolean","default_value":true}`},
		{2, "/v1/flags/flag-a", `"v1", "v2"`, valid},
		{2, "/v1/flags/new", "", valid},
		{3, "/v1/flags/flag-b", `"v1"`, ""},
		{3, "/v1/flags/flag-b", `"v01"`, ""},
		{3, "/v1/flags/missing", "", ""},
		{4, "/v1/flags", "", `{"id":"created","name":"C","kind":"string","default_value":"x","environments":{"prod":{"enabled":true,"rules":[1]}}}`},
		{4, "/v1/flags", "", `{"id":"flag-a","name":"dup","kind":"boolean","default_value":false}`},
		{4, "/v1/flags", "", `{"id":"a","name":`},
		{4, "/v1/flags", "", `{"id":"x","name":"X","kind":"number","default_value":1e400}`},
		{4, "/v1/flags", "", `{"id":"x","name":"X","kind":"boolean","default_value":true} {}`},
		{4, "/v1/flags:batchGet", "", `{"ids":["flag-a","missing","flag-a"]}`},
		{4, "/v1/flags:batchGet", "", `{"ids":["not ok"]}`},
		{4, "/v1/flags:batchGet", "", `{"ids":null}`},
		{0, "/v1/flags/*", "", ""},
		{0, "/v1/flags/%2E%2E", "", ""},
		{0, "/v1/flags/a%0D%0Ab", "", ""},
		{0, "/v1/flags/a%00b", "", ""},
		{0, "/v1/flags/a/b", "", ""},
		{0, "/v1/flags/{x}", "", ""},
		{0, "/v1/flags/prefix:*", "", ""},
		{0, "/v1/flags/" + strings.Repeat("a", 300), "", ""},
		{0, "/v1/flags/../../etc/passwd", "", ""},
		{0, "//v1/flags", "", ""},
		{0, "/v1/flags/", "", ""},
		{5, "/v1/flags/flag-a", "", valid},
		{6, "*", "", ""},
		{0, "/healthz", "", ""},
		{0, "/readyz", "", ""},
		{0, "/nope", "", ""},
		{0, "http://example.com/v1/flags/flag-a", "", ""},
	} {
		f.Add(s.method, s.target, s.ifMatch, s.body)
	}
	f.Fuzz(func(t *testing.T, method uint8, target, ifMatch, body string) {
		if !validHeaderValue(ifMatch) {
			return // net/http's server refuses it
		}
		fz := newFuzzHandler(t)
		head := fuzzMethods[int(method)%len(fuzzMethods)] + " " + target
		req := fz.readRequest(t, head)
		if req == nil {
			return
		}
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
			req.Header.Set("If-None-Match", ifMatch)
		}
		if body != "" {
			req.Body = io.NopCloser(strings.NewReader(body))
			req.ContentLength = int64(len(body))
			req.Header.Set("Content-Type", "application/json")
		}
		fz.check(t, req)
	})
}

// fuzzHandler is a Handler over a memstore with two flags.
type fuzzHandler struct {
	store *memstore.Store
	h     *httpapi.Handler
}

func newFuzzHandler(t *testing.T) *fuzzHandler {
	store := memstore.New(memstore.Options{})
	for _, id := range []flagcache.ID{"flag-a", "flag-b"} {
		mustCreate(t, store, id)
	}
	h, err := httpapi.NewHandler(store, httpapi.Options{MaxBodyBytes: 4 << 10, MaxBatch: 10})
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzHandler{store, h}
}

// readRequest parses a request line as net/http's server does, or returns
// nil when the server would refuse it itself.
func (fz *fuzzHandler) readRequest(t *testing.T, line string) *http.Request {
	if strings.ContainsAny(line, "\r\n") {
		return nil
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(line + " HTTP/1.1\r\nHost: localhost\r\n\r\n")))
	if err != nil {
		return nil
	}
	req.RequestURI = ""
	return req
}

// check serves req and checks the response.
func (fz *fuzzHandler) check(t *testing.T, req *http.Request) {
	before := fz.revision(t)
	timeout := 10 * time.Second
	if req.URL.Path == "/v1/watch" {
		timeout = 50 * time.Millisecond // a stream: end it soon
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req = req.WithContext(ctx)
	rec := httptest.NewRecorder()
	fz.h.ServeHTTP(rec, req)
	res := rec.Result()
	body := rec.Body.Bytes()
	what := req.Method + " " + req.URL.String()

	if res.StatusCode >= 500 {
		t.Fatalf("%s: got %d %s", what, res.StatusCode, body)
	}
	if res.StatusCode >= 300 && fz.revision(t) != before {
		t.Fatalf("%s: got %d %s, and the store changed", what, res.StatusCode, body)
	}
	switch {
	case res.StatusCode >= 400:
		checkErrorBody(t, what, res, body)
	case req.Method == http.MethodHead && len(body) == 0:
		// A HEAD body is the GET one, which net/http's server drops; the
		// recorder keeps it, so one is checked like the GET's.
	case res.StatusCode == http.StatusNoContent, res.StatusCode == http.StatusNotModified:
		if len(body) != 0 {
			t.Fatalf("%s: got %d with a body %q", what, res.StatusCode, body)
		}
	case strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream"):
	case res.StatusCode >= 300:
		t.Fatalf("%s: got %d %s, want no redirects", what, res.StatusCode, body)
	default:
		fz.checkSuccess(t, what, req, res, body)
	}
}

func (fz *fuzzHandler) revision(t *testing.T) int64 {
	feed, err := fz.store.Changes(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return feed.Revision
}

// errorCodes are the codes of the API's error bodies.
var errorCodes = []string{"invalid_argument", "not_found", "already_exists", "version_conflict", "unauthenticated",
	"permission_denied", "payload_too_large", "method_not_allowed", "resync_needed", "unsupported_media_type", "request_timeout"}

func checkErrorBody(t *testing.T, what string, res *http.Response, body []byte) {
	var e wire.ErrorBody
	if err := strictDecode(body, &e); err != nil {
		t.Fatalf("%s: %d body is not the error JSON (%v): %q", what, res.StatusCode, err, body)
	}
	if e.Error == nil {
		t.Fatalf("%s: %d body without the error object: %q", what, res.StatusCode, body)
	}
	if !slices.Contains(errorCodes, e.Error.Code) || e.Error.Message == "" {
		t.Fatalf("%s: %d error body with code %q, message %q", what, res.StatusCode, e.Error.Code, e.Error.Message)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: error body of type %q", what, ct)
	}
}

// checkSuccess decodes a 2xx body into its route's shape; a flag written
// or read must decode → encode → decode to the same value, and a write
// must be what a read returns afterwards.
func (fz *fuzzHandler) checkSuccess(t *testing.T, what string, req *http.Request, res *http.Response, body []byte) {
	var shape any
	switch p := req.URL.Path; {
	case p == "/v1/flags" && req.Method != http.MethodPost:
		shape = &wire.ListResponse{}
	case p == "/v1/flags:count":
		shape = &wire.CountResponse{}
	case p == "/v1/flags:modifiedSince":
		shape = &wire.FlagsResponse{}
	case p == "/v1/flags:batchGet":
		shape = &wire.BatchGetResponse{}
	case p == "/v1/changes":
		shape = &flagcache.ChangeFeed{}
	case p == "/healthz":
		shape = &map[string]string{}
	case p == "/readyz":
		shape = &httpapi.Readiness{}
	case strings.HasPrefix(p, "/v1/flags"):
		shape = &flagcache.Stored{}
	default:
		t.Fatalf("%s: got %d %s from a route the fuzzer does not know", what, res.StatusCode, body)
	}
	if err := strictDecode(body, shape); err != nil {
		t.Fatalf("%s: %d body does not decode as %T: %v\n%s", what, res.StatusCode, shape, err, body)
	}
	stored, ok := shape.(*flagcache.Stored)
	if !ok {
		return
	}
	again := roundTrip(t, what, stored)
	if req.Method != http.MethodPut && req.Method != http.MethodPost {
		return
	}
	if res.Header.Get("ETag") != flagcache.ETag(stored.Version) {
		t.Fatalf("%s: ETag %q for version %d", what, res.Header.Get("ETag"), stored.Version)
	}
	read, err := fz.store.Get(context.Background(), stored.Definition.ID)
	if err != nil {
		t.Fatalf("%s: the flag written is not readable: %v", what, err)
	}
	if got := roundTrip(t, what, read); !bytes.Equal(got, again) {
		t.Fatalf("%s: wrote\n%s\nread back\n%s", what, again, got)
	}
}

// roundTrip encodes s, decodes and encodes it again, and fails unless both
// encodings are equal.
func roundTrip(t *testing.T, what string, s *flagcache.Stored) []byte {
	once, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("%s: encoding %+v: %v", what, s, err)
	}
	var back flagcache.Stored
	if err := json.Unmarshal(once, &back); err != nil {
		t.Fatalf("%s: decoding our own encoding %s: %v", what, once, err)
	}
	twice, _ := json.Marshal(&back)
	if !bytes.Equal(once, twice) {
		t.Fatalf("%s: not stable:\n%s\n%s", what, once, twice)
	}
	return twice
}

// strictDecode decodes one JSON value with no unknown fields and nothing
// after it.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// validHeaderValue reports whether net/http's server accepts v as a header
// value: no control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
