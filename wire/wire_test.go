package wire_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/wire"
)

// wire imports the standard library and the domain package only, so any
// Go caller of the API can use it without taking on flagcache's drivers.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	got := strings.Fields(string(out))
	want := []string{"github.com/flagcache/flagcache", "github.com/flagcache/flagcache/wire"}
	if !slices.Equal(got, want) {
		t.Errorf("non-standard dependencies %q, want %q", got, want)
	}
}

// failingStore answers every Get with err.
type failingStore struct {
	flagcache.Store
	err error
}

func (s failingStore) Get(context.Context, flagcache.ID) (*flagcache.Stored, error) {
	return nil, s.err
}

// Every code of the table round-trips: the daemon sends a store error of
// the code's flagcache error with the code and the table's status, and the
// client's error for that response matches the same flagcache error. Codes
// without one are produced by requests and checked for code and status.
func TestCodesRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, code := range wire.Codes() {
		t.Run(code.Name, func(t *testing.T) {
			if seen[code.Name] {
				t.Fatalf("%s is in the table twice", code.Name)
			}
			seen[code.Name] = true
			var err error
			switch {
			case code.Name == wire.CodePayloadTooLarge:
				err = createTooLarge(t)
			case code.Err != nil:
				err = getFailing(t, fmt.Errorf("the store says: %w", code.Err))
			case code.Name == wire.CodeInternal:
				err = getFailing(t, errors.New("a bug"))
			default:
				status, body := raw(t, code.Name)
				if status != code.Status || body.Error == nil || body.Error.Code != code.Name {
					t.Fatalf("got %d %+v, want %d with code %s", status, body.Error, code.Status, code.Name)
				}
				return
			}
			var e *client.Error
			if !errors.As(err, &e) || e.Status != code.Status || e.Code != code.Name {
				t.Fatalf("got %T %v, want a *client.Error of %d %s", err, err, code.Status, code.Name)
			}
			if wire.Status(code.Name) != code.Status {
				t.Errorf("Status(%s) = %d, want %d", code.Name, wire.Status(code.Name), code.Status)
			}
			if code.Err != nil && !errors.Is(err, code.Err) {
				t.Errorf("got %v, want it to match %v", err, code.Err)
			}
			for _, other := range wire.Codes() {
				if other.Err != nil && other.Err != code.Err && errors.Is(err, other.Err) {
					t.Errorf("got %v, which also matches %v", err, other.Err)
				}
			}
		})
	}
}

// A bare status (no error body: a proxy, a gateway) means a code only when
// the table says it means it from anyone.
func TestCodeOfStatus(t *testing.T) {
	for _, code := range wire.Codes() {
		want := ""
		if code.Bare {
			want = code.Name
		}
		if got := wire.CodeOfStatus(code.Status, false); got != want {
			t.Errorf("CodeOfStatus(%d, false) = %q, want %q", code.Status, got, want)
		}
		if got := wire.CodeOfStatus(code.Status, true); got == "" {
			t.Errorf("CodeOfStatus(%d, true) = \"\", want a code", code.Status)
		}
	}
	for _, status := range []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout} {
		if got := wire.CodeOfStatus(status, false); got != wire.CodeUnavailable {
			t.Errorf("CodeOfStatus(%d, false) = %q, want unavailable", status, got)
		}
	}
	if got := wire.CodeOfStatus(http.StatusTeapot, true); got != "" {
		t.Errorf("CodeOfStatus(418, true) = %q, want none", got)
	}
}

func getFailing(t *testing.T, err error) error {
	t.Helper()
	srv := serve(t, failingStore{memstore.New(memstore.Options{}), err}, httpapi.Options{})
	c := newClient(t, srv.URL)
	_, err = c.Get(context.Background(), "f")
	return err
}

func createTooLarge(t *testing.T) error {
	t.Helper()
	srv := serve(t, memstore.New(memstore.Options{}), httpapi.Options{MaxBodyBytes: 64})
	def, err := flagcache.NewBoolean("a-flag-whose-body-is-longer-than-64-bytes", "Too large", false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newClient(t, srv.URL).Create(context.Background(), def)
	return err
}

// raw sends the request that makes the daemon answer code, which no call of
// the client can, and returns the status and the body.
func raw(t *testing.T, code string) (int, wire.ErrorBody) {
	t.Helper()
	srv := httptest.NewUnstartedServer(newHandler(t, memstore.New(memstore.Options{}), httpapi.Options{}))
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	var req string
	switch code {
	case wire.CodeMethodNotAllowed:
		req = "PATCH /v1/flags/f HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
	case wire.CodeUnsupportedMediaType:
		req = "POST /v1/flags HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}"
	case wire.CodeRequestTimeout: // a body that never arrives
		req = "POST /v1/flags HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	default:
		t.Fatalf("no request makes the daemon answer %s: add one", code)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body wire.ErrorBody
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("%d: %v", res.StatusCode, err)
	}
	return res.StatusCode, body
}

func newHandler(t *testing.T, store flagcache.Store, opts httpapi.Options) *httpapi.Handler {
	t.Helper()
	h, err := httpapi.NewHandler(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func serve(t *testing.T, store flagcache.Store, opts httpapi.Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newHandler(t, store, opts))
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, base string) *client.Client {
	t.Helper()
	c, err := client.New(base, client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
