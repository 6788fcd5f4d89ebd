package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/ofrep"
	"github.com/flagcache/flagcache/wire"
)

const validBody = `{"id":"planted","name":"P","kind":"boolean","default_value":true}`

func send(t *testing.T, method, url, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		if name == "Host" {
			req.Host = strings.TrimSpace(value)
			continue
		}
		req.Header.Add(name, strings.TrimSpace(value))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestBodiesMustBeJSON: a body that is not application/json is a 415 and
// writes nothing (a web page can send text/plain without a preflight).
func TestBodiesMustBeJSON(t *testing.T) {
	store := memstore.New(memstore.Options{})
	mustCreate(t, store, "a")
	srv, _ := newServer(t, store, httpapi.Options{})
	for _, ct := range []string{"", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/jsonx", "application/json, text/plain"} {
		var headers []string
		if ct != "" {
			headers = append(headers, "Content-Type: "+ct)
		}
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/v1/flags", validBody},
			{"PUT", "/v1/flags/a", `{"name":"P","kind":"boolean","default_value":true}`},
			{"POST", "/v1/flags:batchGet", `{"ids":["a"]}`},
		} {
			res, body := send(t, c.method, srv.URL+c.path, c.body, headers...)
			if res.StatusCode != http.StatusUnsupportedMediaType || errorCode(t, body) != "unsupported_media_type" {
				t.Errorf("%s %s with Content-Type %q: got %d %s, want 415", c.method, c.path, ct, res.StatusCode, body)
			}
		}
	}
	if n, _ := store.Count(context.Background(), flagcache.Query{}); n != 1 {
		t.Errorf("415s wrote: %d flags", n)
	}
	if got, _ := store.Get(context.Background(), "a"); got.Version != 1 {
		t.Errorf("a 415 updated the flag: version %d", got.Version)
	}
	res, body := send(t, "POST", srv.URL+"/v1/flags", validBody, "Content-Type: application/json; charset=utf-8")
	if res.StatusCode != http.StatusCreated {
		t.Errorf("application/json; charset=utf-8: got %d %s", res.StatusCode, body)
	}
}

// TestForeignHostWithoutTokens: without tokens only loopback Host values
// reach /v1 (DNS rebinding); with tokens any Host does.
func TestForeignHostWithoutTokens(t *testing.T) {
	store := memstore.New(memstore.Options{})
	mustCreate(t, store, "a")
	srv, _ := newServer(t, store, httpapi.Options{AllowedHosts: []string{"flags.internal"}})
	json := "Content-Type: application/json"
	for _, host := range []string{"evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1"} {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/v1/flags/a", ""}, {"GET", "/v1/flags", ""}, {"DELETE", "/v1/flags/a", ""},
			{"POST", "/v1/flags", validBody}, {"GET", "/v1/watch", ""},
		} {
			res, body := send(t, c.method, srv.URL+c.path, c.body, "Host: "+host, json)
			if res.StatusCode != http.StatusForbidden || errorCode(t, body) != "permission_denied" {
				t.Errorf("%s %s with Host %q: got %d %s, want 403", c.method, c.path, host, res.StatusCode, body)
			}
		}
	}
	if got, err := store.Get(context.Background(), "a"); err != nil || got.Version != 1 {
		t.Errorf("a foreign Host changed the store: %v, %v", got, err)
	}
	for _, host := range []string{"localhost", "localhost:8080", "LOCALHOST.", "app.localhost:1", "127.0.0.1", "127.1.2.3:80", "[::1]:8080", "flags.internal:8080"} {
		if res, body := send(t, "GET", srv.URL+"/v1/flags/a", "", "Host: "+host); res.StatusCode != 200 {
			t.Errorf("Host %q: got %d %s, want 200", host, res.StatusCode, body)
		}
	}
	if res, _ := send(t, "GET", srv.URL+"/healthz", "", "Host: evil.example"); res.StatusCode != 200 {
		t.Errorf("/healthz with a foreign Host: got %d", res.StatusCode)
	}
	authed, _ := newServer(t, store, httpapi.Options{Tokens: []httpapi.Token{{Secret: "0123456789abcdef", Scope: httpapi.ScopeRead}}})
	if res, body := send(t, "GET", authed.URL+"/v1/flags/a", "", "Host: flags.example.com", "Authorization: Bearer 0123456789abcdef"); res.StatusCode != 200 {
		t.Errorf("with tokens, a foreign Host: got %d %s, want 200", res.StatusCode, body)
	}
}

// TestWeakIfMatch: If-Match compares strongly, so W/"v1" never matches,
// not even the current version; If-None-Match stays weak.
func TestWeakIfMatch(t *testing.T) {
	store := memstore.New(memstore.Options{})
	mustCreate(t, store, "a")
	srv, _ := newServer(t, store, httpapi.Options{})
	body := `{"name":"changed","kind":"boolean","default_value":true}`
	res, b := send(t, "PUT", srv.URL+"/v1/flags/a", body, `If-Match: W/"v1"`, "Content-Type: application/json")
	if res.StatusCode != http.StatusPreconditionFailed || errorCode(t, b) != "version_conflict" {
		t.Errorf(`PUT If-Match: W/"v1": got %d %s, want 412`, res.StatusCode, b)
	}
	if res, b := send(t, "DELETE", srv.URL+"/v1/flags/a", "", `If-Match: W/"v1"`); res.StatusCode != http.StatusPreconditionFailed {
		t.Errorf(`DELETE If-Match: W/"v1": got %d %s, want 412`, res.StatusCode, b)
	}
	if got, _ := store.Get(context.Background(), "a"); got.Version != 1 {
		t.Fatalf("a weak If-Match wrote: version %d", got.Version)
	}
	if res, _ := send(t, "GET", srv.URL+"/v1/flags/a", "", `If-None-Match: W/"v1"`); res.StatusCode != http.StatusNotModified {
		t.Errorf(`If-None-Match: W/"v1": got %d, want 304`, res.StatusCode)
	}
	if res, b := send(t, "PUT", srv.URL+"/v1/flags/a", body, `If-Match: "v1"`, "Content-Type: application/json"); res.StatusCode != 200 {
		t.Errorf(`PUT If-Match: "v1": got %d %s, want 200`, res.StatusCode, b)
	}
}

// TestStalledBody: a body that stops arriving gets a 408 on the wire and
// in the metrics, not the 499 of a client that went away, on every route
// that reads a body (OFREP's too).
func TestStalledBody(t *testing.T) {
	mp, metrics, err := httpapi.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Shutdown(context.Background())
	store := memstore.New(memstore.Options{})
	h, err := httpapi.NewHandler(store, httpapi.Options{MeterProvider: mp, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	evaluations, err := ofrep.NewHandler(store, ofrep.Options{DefaultEnvironment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	h.MountOFREP(evaluations)
	srv := newUnstarted(h)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	for _, c := range []struct{ method, path, route string }{
		{"POST", "/v1/flags", "/v1/flags"},
		{"PUT", "/v1/flags/a", "/v1/flags/{id}"},
		{"POST", "/v1/flags:batchGet", "/v1/flags:batchGet"},
		{"POST", "/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags"},
		{"POST", "/ofrep/v1/evaluate/flags/a", "/ofrep/v1/evaluate/flags/{key}"},
	} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, c.method+" "+c.path+" HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"id\":")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s %s: no response to a stalled body: %v", c.method, c.path, err)
		}
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusRequestTimeout || strings.Contains(string(b), "127.0.0.1") {
			t.Errorf("%s %s: stalled body: got %d %s, want 408 naming no address", c.method, c.path, res.StatusCode, b)
		}
		if strings.HasPrefix(c.path, "/v1/") && errorCode(t, string(b)) != "request_timeout" {
			t.Errorf("%s %s: got %s, want code request_timeout", c.method, c.path, b)
		}
		_, body := get(t, "GET", srv.URL+"/metrics")
		want := `http_server_request_duration_seconds_count{http_request_method="` + c.method + `",http_response_status_code="408",http_route="` + c.route + `"} 1`
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestModifiedSincePaged: modifiedSince serves at most limit (≤ 1000)
// flags and the cursor of the next page, which continues exactly.
func TestModifiedSincePaged(t *testing.T) {
	store := memstore.New(memstore.Options{})
	for _, id := range []flagcache.ID{"e", "c", "a", "d", "b"} {
		mustCreate(t, store, id)
	}
	srv, _ := newServer(t, store, httpapi.Options{})
	var got []string
	query := "since=2000-01-01T00:00:00Z&limit=2"
	for range 5 {
		res, body := get(t, "GET", srv.URL+"/v1/flags:modifiedSince?"+query)
		if res.StatusCode != 200 {
			t.Fatalf("got %d %s", res.StatusCode, body)
		}
		var page wire.FlagsResponse
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Flags) > 2 {
			t.Fatalf("limit 2 served %d flags", len(page.Flags))
		}
		for _, f := range page.Flags {
			got = append(got, string(f.Definition.ID))
		}
		if page.Next == nil {
			break
		}
		query = "limit=2&since=" + url.QueryEscape(page.Next.Since.Format(time.RFC3339Nano)) + "&after_id=" + string(page.Next.AfterID)
	}
	if strings.Join(got, "") != "ecadb" {
		t.Errorf("paged modifiedSince served %v, want e c a d b (oldest first)", got)
	}
	for _, q := range []string{"since=2000-01-01T00:00:00Z&limit=1001", "since=2000-01-01T00:00:00Z&limit=0", "since=2000-01-01T00:00:00Z&after_id=a%20b"} {
		if res, body := get(t, "GET", srv.URL+"/v1/flags:modifiedSince?"+q); res.StatusCode != 400 {
			t.Errorf("%s: got %d %s, want 400", q, res.StatusCode, body)
		}
	}
}
