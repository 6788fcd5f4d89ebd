package main

import (
	"strings"
	"testing"
)

// TestAuth runs the daemon with a read token (inline in the config file),
// a write token (from a token file) and a write token from FLAGCACHE_TOKEN.
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "write.token", "file-write-secret\n")
	cfg := writeFile(t, dir, "flagcache.toml", `
[[auth.tokens]]
scope = "read"
value = "read-secret-0123456"

[[auth.tokens]]
scope = "write"
file = "`+tokenFile+`"
`)
	d := startServe(t, map[string]string{"FLAGCACHE_TOKEN": "env-write-secret"}, "--config", cfg)
	if strings.Contains(d.logs.String(), "secret") {
		t.Errorf("a token was logged:\n%s", d.logs.String())
	}

	const (
		create = `{"id":"f1","name":"F","kind":"boolean","default_value":true}`
		update = `{"name":"F","kind":"boolean","default_value":false}`
	)
	cases := []struct {
		name          string
		authorization string
		method, path  string
		body          string
		status        int
		code          string
	}{
		{"no token on a read", "", "GET", "/v1/flags", "", 401, "unauthenticated"},
		{"no token on a write", "", "POST", "/v1/flags", create, 401, "unauthenticated"},
		{"no token on watch", "", "GET", "/v1/watch", "", 401, "unauthenticated"},
		{"wrong token", "Bearer guess", "GET", "/v1/flags", "", 401, "unauthenticated"},
		{"token prefix", "Bearer read-secre", "GET", "/v1/flags", "", 401, "unauthenticated"},
		{"basic auth", "Basic cmVhZC1zZWNyZXQ=", "GET", "/v1/flags", "", 401, "unauthenticated"},
		{"empty bearer", "Bearer ", "GET", "/v1/flags", "", 401, "unauthenticated"},
		{"read token on a read", "Bearer read-secret-0123456", "GET", "/v1/flags", "", 200, ""},
		{"read token, lower-case scheme", "bearer read-secret-0123456", "GET", "/v1/flags:count", "", 200, ""},
		{"read token on batchGet", "Bearer read-secret-0123456", "POST", "/v1/flags:batchGet", `{"ids":["x"]}`, 200, ""},
		{"read token on a create", "Bearer read-secret-0123456", "POST", "/v1/flags", create, 403, "permission_denied"},
		{"read token on an update", "Bearer read-secret-0123456", "PUT", "/v1/flags/f1", update, 403, "permission_denied"},
		{"read token on a delete", "Bearer read-secret-0123456", "DELETE", "/v1/flags/f1", "", 403, "permission_denied"},
		{"write token (file) on a write", "Bearer file-write-secret", "POST", "/v1/flags", create, 201, ""},
		{"write token (file) on a read", "Bearer file-write-secret", "GET", "/v1/flags/f1", "", 200, ""},
		{"write token (env) on a write", "Bearer env-write-secret", "PUT", "/v1/flags/f1", update, 200, ""},
		{"write token (env) on a read", "Bearer env-write-secret", "GET", "/v1/changes", "", 200, ""},
		{"no token on healthz", "", "GET", "/healthz", "", 200, ""},
		{"no token on readyz", "", "GET", "/readyz", "", 200, ""},
		{"no token on metrics", "", "GET", "/metrics", "", 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.authorization != "" {
				headers = append(headers, "Authorization: "+c.authorization)
			}
			r := d.do(t, c.method, c.path, c.body, headers...)
			if r.status != c.status || r.errorCode() != c.code {
				t.Fatalf("got %d %q, want %d %q; body %s", r.status, r.errorCode(), c.status, c.code, r.body)
			}
			if c.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("got WWW-Authenticate %q, want a Bearer challenge", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if strings.Contains(d.logs.String(), "secret") {
		t.Errorf("a token was logged:\n%s", d.logs.String())
	}
}
