package ofrep_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flagcache/flagcache/internal/ofreptest"
)

// recorder is a testing.TB that records Errorf instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

// TestSpecValidates shows the validator tells OFREP's shapes from others,
// so the tests that pass through it prove something.
func TestSpecValidates(t *testing.T) {
	spec := ofreptest.Load(t)
	cases := []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"boolean", 200, `{"key":"f","reason":"STATIC","value":true}`, true},
		{"integer", 200, `{"key":"f","reason":"STATIC","value":3}`, true},
		{"object", 200, `{"key":"f","reason":"STATIC","value":{"a":1}}`, true},
		{"code default", 200, `{"key":"f","reason":"DISABLED"}`, true},
		{"array value", 200, `{"key":"f","reason":"STATIC","value":[1]}`, false},
		{"null value", 200, `{"key":"f","reason":"STATIC","value":null}`, false},
		{"unknown reason", 200, `{"key":"f","reason":"FRESH","value":true}`, false},
		{"nested metadata", 200, `{"key":"f","reason":"STATIC","value":true,"metadata":{"a":{}}}`, false},
		{"not found", 404, `{"key":"f","errorCode":"FLAG_NOT_FOUND"}`, true},
		{"not found, other code", 404, `{"key":"f","errorCode":"GENERAL"}`, false},
		{"failure", 400, `{"key":"f","errorCode":"PARSE_ERROR"}`, true},
		{"failure with TYPE_MISMATCH", 400, `{"key":"f","errorCode":"TYPE_MISMATCH"}`, false},
		{"flagcache error shape", 400, `{"error":{"code":"invalid_argument","message":"x"}}`, false},
		{"undeclared status", 418, `{}`, false},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, "http://x/ofrep/v1/evaluate/flags/f", strings.NewReader(`{"context":{}}`))
		req.Header.Set("Content-Type", "application/json")
		hdr := http.Header{"Content-Type": {"application/json"}}
		r := &recorder{TB: t}
		spec.Validate(r, req, c.status, hdr, []byte(c.body))
		if ok := len(r.errs) == 0; ok != c.ok {
			t.Errorf("%s: valid = %v, want %v (%v)", c.name, ok, c.ok, r.errs)
		}
	}
}
