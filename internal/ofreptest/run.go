package ofreptest

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// Target is a server of the OFREP endpoints with the Fixtures seeded,
// ofrep.default_environment "staging", and two read tokens: Token bound
// to no environment, BoundToken bound to "production".
type Target struct {
	Base       string
	Token      string
	BoundToken string
	Client     *http.Client
	// Write makes a write to the store (any flag but the fixtures).
	Write func(t *testing.T)
}

// Row is the expected answer for one fixture in Env.
type Row struct {
	Key       string
	Status    int
	Reason    string
	ErrorCode string
	Value     string // JSON; "" for none
	Variant   string
}

// Rows are the mapping table of docs/ofrep.md, one per fixture.
var Rows = []Row{
	{Key: "on-bool", Status: 200, Reason: "STATIC", Value: "true", Variant: "on"},
	{Key: "off-bool", Status: 200, Reason: "DISABLED"},
	{Key: "missing", Status: 404, ErrorCode: "FLAG_NOT_FOUND"},
	{Key: "deleted", Status: 404, ErrorCode: "FLAG_NOT_FOUND"},
	{Key: "archived", Status: 404, ErrorCode: "FLAG_NOT_FOUND"},
	{Key: "staging-only", Status: 404, ErrorCode: "FLAG_NOT_FOUND"},
	{Key: "not a flag id", Status: 404, ErrorCode: "FLAG_NOT_FOUND"},
	{Key: "rules", Status: 400, ErrorCode: "GENERAL"},
	{Key: "int-number", Status: 200, Reason: "STATIC", Value: "3"},
	{Key: "float-number", Status: 200, Reason: "STATIC", Value: "2.5"},
	{Key: "obj-json", Status: 200, Reason: "STATIC", Value: `{"color":"blue","size":2}`, Variant: "blue"},
	{Key: "list-json", Status: 400, ErrorCode: "PARSE_ERROR"},
	{Key: "string-flag", Status: 200, Reason: "STATIC", Value: `"blue"`},
}

// Answer is a decoded OFREP evaluation (success or failure).
type Answer struct {
	Key          string          `json:"key"`
	Reason       string          `json:"reason"`
	Variant      string          `json:"variant"`
	Value        json.RawMessage `json:"value"`
	ErrorCode    string          `json:"errorCode"`
	ErrorDetails string          `json:"errorDetails"`
	Metadata     map[string]any  `json:"metadata"`
}

// Response is one response, read in full and validated.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a POST with body to path (headers "Name: value"), the token
// as a bearer token unless headers set Authorization or token is "".
func (tg Target) Do(t *testing.T, path, token, body string, headers ...string) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tg.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		if value = strings.TrimSpace(value); value == "" {
			req.Header.Del(name)
		} else {
			req.Header.Set(name, value)
		}
	}
	hc := tg.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	Load(t).Validate(t, req, res.StatusCode, res.Header, data)
	return Response{res.StatusCode, res.Header, data}
}

// Eval evaluates one flag.
func (tg Target) Eval(t *testing.T, key, token, evalCtx string, headers ...string) (Response, Answer) {
	t.Helper()
	r := tg.Do(t, "/ofrep/v1/evaluate/flags/"+key, token, `{"context":`+evalCtx+`}`, headers...)
	var a Answer
	if len(r.Body) > 0 && json.Unmarshal(r.Body, &a) != nil {
		t.Fatalf("%s: body is not JSON: %s", key, r.Body)
	}
	return r, a
}

// CheckRow asserts that an answer matches row.
func CheckRow(t *testing.T, row Row, r Response, a Answer) {
	t.Helper()
	if r.Status != row.Status || a.Reason != row.Reason || a.ErrorCode != row.ErrorCode || a.Variant != row.Variant {
		t.Errorf("%s: got %d reason %q code %q variant %q, want %d %q %q %q\n%s", row.Key,
			r.Status, a.Reason, a.ErrorCode, a.Variant, row.Status, row.Reason, row.ErrorCode, row.Variant, r.Body)
	}
	if !jsonEqual(a.Value, row.Value) {
		t.Errorf("%s: got value %s, want %s", row.Key, a.Value, row.Value)
	}
	if row.Value == "3" && string(a.Value) != "3" {
		t.Errorf("%s: an integral number is served as %s, want the integer 3", row.Key, a.Value)
	}
	if row.ErrorCode == "" || row.ErrorCode == "GENERAL" {
		for _, k := range []string{"version", "revision", "status", "environment"} {
			if _, ok := a.Metadata[k]; !ok {
				t.Errorf("%s: metadata %v lacks %s", row.Key, a.Metadata, k)
			}
		}
		if a.Metadata["stale"] != nil {
			t.Errorf("%s: metadata.stale is %v on a fresh read", row.Key, a.Metadata["stale"])
		}
	}
}

func jsonEqual(got json.RawMessage, want string) bool {
	if len(got) == 0 || want == "" {
		return len(got) == 0 && want == ""
	}
	var g, w any
	return json.Unmarshal(got, &g) == nil && json.Unmarshal([]byte(want), &w) == nil && reflect.DeepEqual(g, w)
}

// RunHTTP runs every case of the OFREP endpoints against tg.
func RunHTTP(t *testing.T, tg Target) {
	t.Run("Rows", func(t *testing.T) {
		for _, row := range Rows {
			r, a := tg.Eval(t, row.Key, tg.Token, `{"environment":"production","targetingKey":"u1"}`)
			CheckRow(t, row, r, a)
		}
		_, a := tg.Eval(t, "on-bool", tg.Token, `{"environment":"production"}`)
		if a.Metadata["owner"] != "team-a" || a.Metadata["status"] != "active" || a.Metadata["environment"] != "production" {
			t.Errorf("on-bool metadata %v, want owner team-a, status active, environment production", a.Metadata)
		}
	})
	t.Run("TypeOfValue", func(t *testing.T) {
		// OFREP carries no requested type (its ADR-0003): the value's JSON
		// type is the flag's kind, and an OFREP provider asked for another
		// type reports TYPE_MISMATCH.
		for key, want := range map[string]byte{"on-bool": 't', "string-flag": '"', "int-number": '3', "obj-json": '{'} {
			_, a := tg.Eval(t, key, tg.Token, `{"environment":"production"}`)
			if len(a.Value) == 0 || a.Value[0] != want {
				t.Errorf("%s: value %s does not start with %c", key, a.Value, want)
			}
		}
	})
	t.Run("Environment", func(t *testing.T) {
		cases := []struct {
			name, token, ctx, key, reason, code string
		}{
			{"context wins over the token", tg.BoundToken, `{"environment":"staging"}`, "on-bool", "DISABLED", ""},
			{"bound token", tg.BoundToken, `{}`, "on-bool", "STATIC", ""},
			{"bound token as X-API-Key", "", `{}`, "on-bool", "STATIC", ""},
			{"default environment", tg.Token, `{}`, "on-bool", "DISABLED", ""},
			{"default environment defines it", tg.Token, `{}`, "staging-only", "STATIC", ""},
			{"no environment of that name", tg.Token, `{"environment":"nowhere"}`, "on-bool", "", "FLAG_NOT_FOUND"},
			{"bad environment name", tg.Token, `{"environment":"Prod!"}`, "on-bool", "", "INVALID_CONTEXT"},
			{"environment not a string", tg.Token, `{"environment":7}`, "on-bool", "", "INVALID_CONTEXT"},
		}
		for _, c := range cases {
			var headers []string
			if c.token == "" {
				headers = []string{"X-API-Key: " + tg.BoundToken}
			}
			_, a := tg.Eval(t, c.key, c.token, c.ctx, headers...)
			if a.Reason != c.reason || a.ErrorCode != c.code {
				t.Errorf("%s: got reason %q code %q, want %q %q (%s)", c.name, a.Reason, a.ErrorCode, c.reason, c.code, a.ErrorDetails)
			}
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		cases := []struct {
			name, body string
			headers    []string
			status     int
			code       string
		}{
			{"malformed JSON", `{"context":`, nil, 400, "PARSE_ERROR"},
			{"empty body", ``, nil, 400, "PARSE_ERROR"},
			{"not an object", `[1]`, nil, 400, "PARSE_ERROR"},
			{"no context", `{}`, nil, 400, "INVALID_CONTEXT"},
			{"context not an object", `{"context":"x"}`, nil, 400, "INVALID_CONTEXT"},
			{"targetingKey not a string", `{"context":{"targetingKey":5}}`, nil, 400, "INVALID_CONTEXT"},
			{"not JSON content", `{"context":{}}`, []string{"Content-Type: text/plain"}, 415, "PARSE_ERROR"},
			{"too large", `{"context":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`, nil, 413, "PARSE_ERROR"},
		}
		for _, path := range []string{"/ofrep/v1/evaluate/flags/on-bool", "/ofrep/v1/evaluate/flags"} {
			for _, c := range cases {
				r := tg.Do(t, path, tg.Token, c.body, c.headers...)
				var a Answer
				json.Unmarshal(r.Body, &a)
				if r.Status != c.status || a.ErrorCode != c.code {
					t.Errorf("%s %s: got %d %q, want %d %q: %s", path, c.name, r.Status, a.ErrorCode, c.status, c.code, r.Body)
				}
			}
		}
	})
	t.Run("Auth", func(t *testing.T) {
		for _, c := range []struct {
			name    string
			token   string
			headers []string
			status  int
		}{
			{"no token", "", nil, 401},
			{"wrong token", "wrong", nil, 401},
			{"wrong X-API-Key", "", []string{"X-API-Key: wrong"}, 401},
			{"X-API-Key", "", []string{"X-API-Key: " + tg.Token}, 200},
		} {
			r := tg.Do(t, "/ofrep/v1/evaluate/flags/on-bool", c.token, `{"context":{"environment":"production"}}`, c.headers...)
			if r.Status != c.status {
				t.Errorf("%s: got %d, want %d: %s", c.name, r.Status, c.status, r.Body)
			}
		}
	})
	t.Run("Bulk", func(t *testing.T) { runBulk(t, tg) })
	t.Run("MethodNotAllowed", func(t *testing.T) {
		hc := tg.Client
		if hc == nil {
			hc = http.DefaultClient
		}
		for _, path := range []string{"/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/on-bool"} {
			req, _ := http.NewRequest(http.MethodGet, tg.Base+path, nil)
			req.Header.Set("Authorization", "Bearer "+tg.Token)
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" {
				t.Errorf("GET %s: got %d Allow %q, want 405 Allow POST", path, res.StatusCode, res.Header.Get("Allow"))
			}
		}
	})
}

type bulkAnswer struct {
	Flags    []Answer       `json:"flags"`
	Metadata map[string]any `json:"metadata"`
}

func runBulk(t *testing.T, tg Target) {
	r := tg.Do(t, "/ofrep/v1/evaluate/flags", tg.Token, `{"context":{"environment":"production","targetingKey":"u1"}}`)
	if r.Status != 200 {
		t.Fatalf("bulk: got %d: %s", r.Status, r.Body)
	}
	var b bulkAnswer
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatal(err)
	}
	got := map[string]Answer{}
	for _, a := range b.Flags {
		got[a.Key] = a
	}
	for _, row := range Rows {
		a, listed := got[row.Key]
		if row.ErrorCode == "FLAG_NOT_FOUND" {
			if listed {
				t.Errorf("bulk lists %s, which is not found in production", row.Key)
			}
			continue
		}
		if !listed {
			t.Errorf("bulk does not list %s", row.Key)
			continue
		}
		if a.Reason != row.Reason || a.ErrorCode != row.ErrorCode || a.Variant != row.Variant || !jsonEqual(a.Value, row.Value) {
			t.Errorf("bulk %s: got %+v, want %+v", row.Key, a, row)
		}
	}
	etag := r.Header.Get("ETag")
	if !strings.Contains(etag, "production") || b.Metadata["environment"] != "production" {
		t.Errorf("bulk ETag %q / metadata %v do not name the environment", etag, b.Metadata)
	}
	again := tg.Do(t, "/ofrep/v1/evaluate/flags", tg.Token, `{"context":{"environment":"production"}}`, "If-None-Match: "+etag)
	if again.Status != http.StatusNotModified || len(again.Body) != 0 {
		t.Errorf("bulk with If-None-Match %s: got %d %q, want 304 and no body", etag, again.Status, again.Body)
	}
	staging := tg.Do(t, "/ofrep/v1/evaluate/flags", tg.Token, `{"context":{"environment":"staging"}}`, "If-None-Match: "+etag)
	if staging.Status != 200 || staging.Header.Get("ETag") == etag {
		t.Errorf("bulk in staging with production's ETag: got %d ETag %q, want 200 and another ETag", staging.Status, staging.Header.Get("ETag"))
	}
	// A write moves the revision: the old ETag no longer matches.
	tg.Write(t)
	moved := tg.Do(t, "/ofrep/v1/evaluate/flags", tg.Token, `{"context":{"environment":"production"}}`, "If-None-Match: "+etag)
	if moved.Status != 200 || moved.Header.Get("ETag") == etag {
		t.Errorf("bulk after a write with the old ETag: got %d ETag %q, want 200 and a new ETag", moved.Status, moved.Header.Get("ETag"))
	}
}
