package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestBadInput sends malformed requests: each gets its 4xx with a clear
// message, and the store is unchanged afterwards (the whole change feed
// compares equal).
func TestBadInput(t *testing.T) {
	d := startServe(t, nil)
	want(t, d.do(t, "POST", "/v1/flags", `{"id":"existing","name":"Existing","kind":"boolean","default_value":true}`), 201, "")
	snapshot := func() []byte { return d.do(t, "GET", "/v1/changes?after=0&limit=1000", "").body }
	before := snapshot()

	valid := func(id string) string {
		quoted, _ := json.Marshal(id)
		return fmt.Sprintf(`{"id":%s,"name":"N","kind":"boolean","default_value":true}`, quoted)
	}
	long := strings.Repeat("a", 300)
	manyIDs := `{"ids":["a"` + strings.Repeat(`,"a"`, 1000) + `]}`
	cases := []struct {
		name         string
		method, path string
		body         string
		header       string
		status       int
		code         string
		mention      string // the message must contain this
	}{
		{"malformed JSON", "POST", "/v1/flags", `{"id":"a","name":`, "", 400, "invalid_argument", "malformed JSON"},
		{"JSON syntax error", "POST", "/v1/flags", `{"id":"a" "name":"N"}`, "", 400, "invalid_argument", "malformed JSON"},
		{"trailing garbage", "POST", "/v1/flags", valid("trailing") + ` {}`, "", 400, "invalid_argument", "after the JSON object"},
		{"not an object", "POST", "/v1/flags", `["a"]`, "", 400, "invalid_argument", "JSON object"},
		{"empty body", "POST", "/v1/flags", "", "Content-Type: application/json", 400, "invalid_argument", "empty"},
		{"no Content-Type", "POST", "/v1/flags", "", "", 415, "unsupported_media_type", "application/json"},
		{"text/plain body", "POST", "/v1/flags", valid("plain"), "Content-Type: text/plain", 415, "unsupported_media_type", "text/plain"},
		{"weak If-Match", "PUT", "/v1/flags/existing", valid("existing"), `If-Match: W/"v1"`, 412, "version_conflict", "strongly"},
		{"deep value", "POST", "/v1/flags", `{"id":"deep","name":"D","kind":"json","default_value":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, "", 400, "invalid_argument", "64 levels"},
		{"NUL in a value", "POST", "/v1/flags", `{"id":"nul","name":"N","kind":"string","default_value":"a\u0000"}`, "", 400, "invalid_argument", "NUL"},
		{"huge number", "POST", "/v1/flags", `{"id":"big","name":"N","kind":"number","default_value":1e999999}`, "", 400, "invalid_argument", "finite"},
		{"case-variant key", "POST", "/v1/flags", `{"id":"cv","name":"N","kind":"boolean","default_value":true,"Default_Value":false}`, "", 400, "invalid_argument", "case"},
		{"NUL in a list filter", "GET", "/v1/flags?owner=a%00b", "", "", 400, "invalid_argument", "owner"},
		{"invalid UTF-8 in a list filter", "GET", "/v1/flags?tag=%FF", "", "", 400, "invalid_argument", "tag"},
		{"body over the limit", "POST", "/v1/flags", `{"id":"big","name":"` + strings.Repeat("x", 1<<20) + `"}`, "", 413, "payload_too_large", "1048576"},
		{"id *", "POST", "/v1/flags", valid("*"), "", 400, "invalid_argument", "id"},
		{"id ..", "POST", "/v1/flags", valid(".."), "", 400, "invalid_argument", "id"},
		{"id of 300 bytes", "POST", "/v1/flags", valid(long), "", 400, "invalid_argument", "longer than 256"},
		{"id with CR LF", "POST", "/v1/flags", valid("a\r\nb"), "", 400, "invalid_argument", "id"},
		{"id with NUL", "POST", "/v1/flags", valid("a\x00b"), "", 400, "invalid_argument", "id"},
		{"unicode id", "POST", "/v1/flags", valid("drapeau-é"), "", 400, "invalid_argument", "id"},
		{"empty id", "POST", "/v1/flags", valid(""), "", 400, "invalid_argument", "id"},
		{"path id *", "GET", "/v1/flags/*", "", "", 400, "invalid_argument", "id"},
		{"path id ..", "GET", "/v1/flags/%2E%2E", "", "", 400, "invalid_argument", "id"},
		{"path id of 300 bytes", "DELETE", "/v1/flags/" + long, "", "", 400, "invalid_argument", "longer than 256"},
		{"path id with CR LF", "PUT", "/v1/flags/a%0D%0Ab", valid("a\r\nb"), "", 400, "invalid_argument", "id"},
		{"path id with NUL", "GET", "/v1/flags/a%00b", "", "", 400, "invalid_argument", "id"},
		{"unicode path id", "GET", "/v1/flags/drapeau-%C3%A9", "", "", 400, "invalid_argument", "id"},
		{"path id with a slash", "GET", "/v1/flags/a%2Fb", "", "", 400, "invalid_argument", "id"},
		{"two path segments", "GET", "/v1/flags/a/b", "", "", 400, "invalid_argument", "id"},
		{"unknown kind", "POST", "/v1/flags", `{"id":"k","name":"K","kind":"color","default_value":1}`, "", 400, "invalid_argument", "kind"},
		{"missing kind", "POST", "/v1/flags", `{"id":"k","name":"K","default_value":1}`, "", 400, "invalid_argument", "kind"},
		{"default of the wrong kind", "POST", "/v1/flags", `{"id":"k","name":"K","kind":"boolean","default_value":"yes"}`, "", 400, "invalid_argument", "default_value"},
		{"variation of the wrong kind", "POST", "/v1/flags", `{"id":"k","name":"K","kind":"number","default_value":1,"variations":[{"value":"x"}]}`, "", 400, "invalid_argument", "variations[0].value"},
		{"kind of the wrong JSON type", "POST", "/v1/flags", `{"id":"k","name":"K","kind":5,"default_value":1}`, "", 400, "invalid_argument", "kind"},
		{"unknown status", "POST", "/v1/flags", `{"id":"k","name":"K","kind":"boolean","default_value":true,"status":"retired"}`, "", 400, "invalid_argument", "status"},
		{"bad environment name", "POST", "/v1/flags", `{"id":"k","name":"K","kind":"boolean","default_value":true,"environments":{"Prod":{"enabled":true}}}`, "", 400, "invalid_argument", "environments"},
		{"body id differs from path id", "PUT", "/v1/flags/existing", valid("other"), "", 400, "invalid_argument", "differs"},
		{"If-Match without quotes", "PUT", "/v1/flags/existing", valid("existing"), "If-Match: v1", 400, "invalid_argument", "If-Match"},
		{"If-Match version 0", "DELETE", "/v1/flags/existing", "", `If-Match: "v0"`, 400, "invalid_argument", "If-Match"},
		{"If-Match list", "DELETE", "/v1/flags/existing", "", `If-Match: "v1", "v2"`, 400, "invalid_argument", "If-Match"},
		{"If-Match garbage", "PUT", "/v1/flags/existing", valid("existing"), `If-Match: "vx"`, 400, "invalid_argument", "If-Match"},
		{"negative offset", "GET", "/v1/flags?offset=-1", "", "", 400, "invalid_argument", "offset"},
		{"limit 5000", "GET", "/v1/flags?limit=5000", "", "", 400, "invalid_argument", "limit"},
		{"limit 0", "GET", "/v1/flags?limit=0", "", "", 400, "invalid_argument", "limit"},
		{"limit not a number", "GET", "/v1/flags?limit=ten", "", "", 400, "invalid_argument", "limit"},
		{"unknown status filter", "GET", "/v1/flags?status=retired", "", "", 400, "invalid_argument", "status"},
		{"unknown parameter", "GET", "/v1/flags?colour=red", "", "", 400, "invalid_argument", "unknown query parameter"},
		{"status twice", "GET", "/v1/flags?status=active&status=inactive", "", "", 400, "invalid_argument", "more than once"},
		{"include_archived not a boolean", "GET", "/v1/flags?include_archived=maybe", "", "", 400, "invalid_argument", "include_archived"},
		{"bad environment filter", "GET", "/v1/flags:count?environment=PROD", "", "", 400, "invalid_argument", "environment"},
		{"batchGet unknown field", "POST", "/v1/flags:batchGet", `{"ids":["a"],"limit":3}`, "", 400, "invalid_argument", "unknown field"},
		{"batchGet without ids", "POST", "/v1/flags:batchGet", `{}`, "", 400, "invalid_argument", "ids"},
		{"batchGet bad id", "POST", "/v1/flags:batchGet", `{"ids":["ok","not ok"]}`, "", 400, "invalid_argument", "ids"},
		{"batchGet ids not a list", "POST", "/v1/flags:batchGet", `{"ids":"a"}`, "", 400, "invalid_argument", "ids"},
		{"batchGet too many ids", "POST", "/v1/flags:batchGet", manyIDs, "", 400, "invalid_argument", "at most 1000"},
		{"modifiedSince with a + offset not escaped", "GET", "/v1/flags:modifiedSince?since=2026-01-01T00:00:00+01:00", "", "", 400, "invalid_argument", "%2B"},
		{"changes after not a number", "GET", "/v1/changes?after=last", "", "", 400, "invalid_argument", "after"},
		{"watch Last-Event-ID not a number", "GET", "/v1/watch", "", "Last-Event-ID: abc", 400, "invalid_argument", "Last-Event-ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.header != "" {
				headers = append(headers, c.header)
			}
			r := d.do(t, c.method, c.path, c.body, headers...)
			want(t, r, c.status, c.code)
			var e struct {
				Error struct{ Message string }
			}
			r.json(t, &e)
			if !strings.Contains(e.Error.Message, c.mention) {
				t.Errorf("got message %q, want it to mention %q", e.Error.Message, c.mention)
			}
			if after := snapshot(); !bytes.Equal(after, before) {
				t.Fatalf("the store changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
