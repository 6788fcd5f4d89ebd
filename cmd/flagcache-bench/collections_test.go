package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"testing"
)

// TestStaticServesPages: the static baseline, a process of its own whose
// CPU /proc reports, returns a page's bytes as given, with its ETag, and
// 304 with no body to If-None-Match naming it.
func TestStaticServesPages(t *testing.T) {
	ds := NewDataset("p", 3, 300)
	ds.Bodies = make([][]byte, ds.Len()) // as after fetch
	pages := []page{{query: "tag=team-00&limit=100", body: []byte(`{"flags":[],"total":0}`), staticETag: `"abc"`}}
	s, err := startStatic(context.Background(), ds, pages)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if s.pid() == os.Getpid() {
		t.Fatal("the static server runs in the bench's process")
	}
	if _, err := ReadProc(s.pid()); err != nil {
		t.Fatalf("its process: %v", err)
	}
	get := func(inm string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, s.url()+"/v1/flags?"+pages[0].query, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("ETag"), string(body)
	}
	if code, etag, body := get(""); code != 200 || etag != `"abc"` || body != string(pages[0].body) {
		t.Errorf("GET: %d %s %q, want 200, the ETag and the bytes", code, etag, body)
	}
	if code, _, body := get(`"abc"`); code != 304 || body != "" {
		t.Errorf("GET If-None-Match: %d %q, want 304 and no body", code, body)
	}
	if code, _, _ := get(`"other"`); code != 200 {
		t.Errorf("GET If-None-Match of another ETag: %d, want 200", code)
	}
	if code, _, _ := get(""); code != 200 {
		t.Fatal(code)
	}
	if got := pageQueries(500); len(got) != listPages || got[3] != "tag=team-03&limit=100" {
		t.Errorf("pageQueries: %v", got)
	}
}
