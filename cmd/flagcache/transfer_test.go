package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

// generated returns an export file of n varied flags, with fields no
// flagcache version knows at every level.
func generated(n int) exportFile {
	f := exportFile{Format: exportFormat}
	statuses := []string{"inactive", "active", "deprecated", "archived"}
	for i := range n {
		f.Flags = append(f.Flags, json.RawMessage(fmt.Sprintf(`{"id":"flag-%05d","name":"Flag %05d","kind":"boolean","default_value":false,`+
			`"variations":[{"value":true},{"value":false,"label":"off"}],"status":%q,`+
			`"environments":{"production":{"enabled":%t,"rollout":{"percent":%d}},"staging":{"enabled":true}},`+
			`"metadata":{"tags":["team-%d","gen"],"owner":"owner-%d","ticket":"T-%d"},"x_extra":{"n":%d}}`,
			i, i, statuses[i%4], i%2 == 0, i%100, i%10, i%7, i, i)))
	}
	return f
}

func writeExport(t *testing.T, dir, name string, f exportFile) string {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, string(data))
}

// definitions decodes the flags of an export without the store's
// timestamps, keyed by id.
func definitions(t *testing.T, f exportFile) map[flagcache.ID]string {
	t.Helper()
	out := map[flagcache.ID]string{}
	for _, raw := range f.Flags {
		var d flagcache.Definition
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		d.Metadata.CreatedAt, d.Metadata.UpdatedAt = time.Time{}, time.Time{}
		b, _ := json.Marshal(d)
		out[d.ID] = string(b)
	}
	return out
}

func sameDefinitions(t *testing.T, got, want map[flagcache.ID]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d flags, want %d", len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w {
			t.Fatalf("flag %s differs:\n got %s\nwant %s", id, got[id], w)
		}
	}
}

func TestExportImport(t *testing.T) {
	dir := t.TempDir()
	src := startServe(t, nil, "--source", "memory")
	src.ok(t, "", "import", "--file", writeExport(t, dir, "gen.json", generated(50)))
	src.ok(t, "", "delete", "flag-00003")
	path, exported := exportOf(t, src, dir, "export.json")
	if exported.Format != exportFormat || len(exported.Flags) != 49 || exported.Revision != 51 {
		t.Fatalf("export: format %q, %d flags at revision %d; want %s, 49 (one deleted), 51", exported.Format, len(exported.Flags), exported.Revision, exportFormat)
	}
	if got, want := definitions(t, exported)["flag-00000"], definitions(t, generated(1))["flag-00000"]; got != want {
		t.Errorf("exported flag-00000:\n got %s\nwant %s", got, want)
	}
	// To stdout, the same flags.
	var toStdout exportFile
	if err := json.Unmarshal([]byte(src.ok(t, "", "export")), &toStdout); err != nil || len(toStdout.Flags) != 49 {
		t.Fatalf("export to stdout: %d flags, %v", len(toStdout.Flags), err)
	}

	dst := startServe(t, nil, "--source", "memory")
	if out := dst.ok(t, "", "import", "--file", path, "--dry-run"); !strings.Contains(out, "would create 49, would update 0, would leave 0 unchanged; 0 failed") {
		t.Errorf("dry run: %q", out)
	}
	if n := strings.Count(dst.ok(t, "", "list", "--include-archived"), "\n"); n != 1 {
		t.Fatalf("the dry run wrote: list has %d lines", n)
	}
	// stdin, and a progress bar on request.
	out := dst.ok(t, readExport(t, path), "import", "--progress", "always")
	if !strings.Contains(out, "importing [") || !strings.Contains(out, "49/49 100%") || !strings.Contains(out, "created 49, updated 0, left 0 unchanged, 0 failed") {
		t.Errorf("import output: %q", out)
	}
	_, again := exportOf(t, dst, dir, "again.json")
	sameDefinitions(t, definitions(t, again), definitions(t, exported))

	// Importing again changes nothing; an edited flag is updated.
	if out := dst.ok(t, "", "import", "--file", path); strings.Contains(out, "importing [") || !strings.Contains(out, "created 0, updated 0, left 49 unchanged") {
		t.Errorf("second import (not a terminal: no progress bar): %q", out)
	}
	dst.ok(t, "", "update", "--if-match", "*", "flag-00000", "--file", writeFile(t, dir, "edit.json",
		`{"id":"flag-00000","name":"Edited","kind":"boolean","default_value":true}`))
	if out := dst.ok(t, "", "import", "--file", path); !strings.Contains(out, "created 0, updated 1, left 48 unchanged") {
		t.Errorf("import over an edit: %q", out)
	}
}

// A bad flag fails alone: the others are written, the report names it and
// the exit code says something failed.
func TestImportErrors(t *testing.T) {
	d := startServe(t, nil, "--source", "memory")
	dir := t.TempDir()
	d.ok(t, darkModeJSON, "create")
	d.ok(t, darkModeJSON, "update", "--if-match", "1")
	file := writeFile(t, dir, "mixed.json", `[
		{"id":"good","name":"Good","kind":"boolean","default_value":true},
		{"id":"bad-kind","name":"Bad","kind":"color","default_value":1},
		{"id":"good","name":"Again","kind":"boolean","default_value":false},
		{"definition":{"id":"from-get","name":"From get","kind":"number","default_value":3},"version":7},
		"not an object",
		`+darkModeJSON+`
	]`)
	dry := d.cli(t, "", "import", "--file", file, "--dry-run")
	wantExit(t, dry, 1, `"bad-kind": invalid kind`)
	if !strings.Contains(dry.stdout, "would create 2, would update 0, would leave 1 unchanged; 3 failed") {
		t.Errorf("dry run: %q", dry.stdout)
	}
	r := d.cli(t, "", "import", "--file", file)
	wantExit(t, r, 1, "3 of 6 flags failed")
	for _, want := range []string{`"bad-kind": invalid kind`, `"good": the id is repeated (first at flag #1)`, `"#5": `} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the report lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "created 2, updated 0, left 1 unchanged, 3 failed") {
		t.Errorf("summary: %q", r.stdout)
	}
	d.ok(t, "", "get", "good")
	d.ok(t, "", "get", "from-get")

	wantExit(t, d.cli(t, `{"format":"something-else","flags":[]}`, "import"), 1, "format")
	wantExit(t, d.cli(t, "", "import", "--progress", "sometimes"), 2, "--progress")
}

// 10,000 flags exported from one store and imported into an empty one
// come back with every definition as it was (versions and the store's
// timestamps aside): the generated input is itself an export file, so
// export(import(input)) == input checks both directions at full size in
// one import (TestExportImport runs the whole export → import cycle).
//
// Under the race detector (CI's go test -race) it runs 2,000 flags: 10,000
// take minutes there on a loaded 2-core machine. The full size runs
// without -race: go test -run TestExportImportRoundTrip ./cmd/flagcache/
func TestExportImportRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 flags through the daemon")
	}
	n := 10_000
	if raceEnabled {
		n = 2_000
	}
	dir := t.TempDir()
	input := generated(n)
	d := startServe(t, nil, "--source", "memory")
	start := time.Now()
	out := d.ok(t, "", "import", "--file", writeExport(t, dir, "gen.json", input), "--progress", "always")
	took := time.Since(start)
	if !strings.Contains(out, fmt.Sprintf("%d/%d 100%%", n, n)) || !strings.Contains(out, fmt.Sprintf("created %d, updated 0, left 0 unchanged, 0 failed", n)) {
		t.Fatalf("import output: %q", out[max(0, len(out)-300):])
	}
	t.Logf("imported %d flags in %v (%.0f flags/s)", n, took, float64(n)/took.Seconds())
	_, exported := exportOf(t, d, dir, "export.json")
	sameDefinitions(t, definitions(t, exported), definitions(t, input))
}

// raceEnabled is set by race_test.go in builds with the race detector.
var raceEnabled bool

func readExport(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// pagedFeed is a change feed of n generated flags (flag i at revision
// i+1) that export reads through feedReader. It records every page asked
// for and how much of the export out held by then, and plays two writes
// made during the export: when page 2 is asked for, flag 5 (already read)
// and flag 1500 (not read yet) are rewritten at the end of the feed.
type pagedFeed struct {
	n      int
	out    *bytes.Buffer
	moved  []int // flag numbers rewritten after revision n, in order
	asked  []int // the limit of each page asked for
	served int   // bytes of definitions handed out so far
	held   []int // per page: bytes handed out that out had not received
}

func (f *pagedFeed) def(i int, rewritten bool) []byte {
	name := fmt.Sprintf("Flag %d", i)
	if rewritten {
		name += " rewritten"
	}
	return []byte(fmt.Sprintf(`{"id":"flag-%05d","name":%q,"kind":"json","default_value":{"":[],"n":null},"description":"","x":{"y":{}}}`, i, name))
}

func (f *pagedFeed) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	f.asked = append(f.asked, limit)
	f.held = append(f.held, f.served-f.out.Len())
	if len(f.asked) == 2 {
		f.moved = append(f.moved, 5, 1500)
	}
	feed := &flagcache.ChangeFeed{Revision: int64(f.n + len(f.moved))}
	for rev := after + 1; rev <= feed.Revision && len(feed.Changes) < limit; rev++ {
		i, rewritten := int(rev-1), false
		if rev > int64(f.n) {
			i, rewritten = f.moved[rev-int64(f.n)-1], true
		} else if slices.Contains(f.moved, i) {
			continue // its latest write is further on
		}
		ch := flagcache.Change{Revision: rev, Op: flagcache.OpUpsert, ID: flagcache.ID(fmt.Sprintf("flag-%05d", i)), Version: 1}
		if i == 7 {
			ch.Op = flagcache.OpDelete
			feed.Changes = append(feed.Changes, ch)
			continue
		}
		var d flagcache.Definition
		b := f.def(i, rewritten)
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, err
		}
		f.served += len(b)
		ch.Flag = &flagcache.Stored{Definition: &d, Version: 1, Revision: rev}
		feed.Changes = append(feed.Changes, ch)
	}
	return feed, nil
}

// TestExportStreams: export reads the feed a page at a time and writes
// each definition before it asks for the next page (never more than
// bufio's buffer held back), so it never holds the whole set; a flag
// rewritten during the export is exported once; the output is the same
// bytes for the same feed, and it imports.
func TestExportStreams(t *testing.T) {
	const n = 3500
	at := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	run := func() (*pagedFeed, []byte) {
		t.Helper()
		f := &pagedFeed{n: n, out: &bytes.Buffer{}}
		flags, rev, err := streamExport(context.Background(), f.out, f, at)
		if err != nil {
			t.Fatal(err)
		}
		if flags != n-1 || rev != n+2 {
			t.Fatalf("exported %d flags at revision %d, want %d (one deleted) at %d", flags, rev, n-1, n+2)
		}
		return f, f.out.Bytes()
	}
	f, out := run()
	if want := []int{1000, 1000, 1000, 1000}; !slices.Equal(f.asked, want) {
		t.Errorf("pages asked for: %v, want %v", f.asked, want)
	}
	for page, held := range f.held {
		if held > 4096 {
			t.Errorf("when page %d was asked for, %d bytes of definitions read were not written yet (more than bufio's 4096)", page+1, held)
		}
	}
	_, again := run()
	if !bytes.Equal(out, again) {
		t.Error("two exports of the same feed differ")
	}

	var file exportFile
	if err := json.Unmarshal(out, &file); err != nil {
		t.Fatalf("the export does not decode: %v", err)
	}
	if file.Format != exportFormat || !file.ExportedAt.Equal(at) || file.Revision != n+2 || len(file.Flags) != n-1 {
		t.Fatalf("export header: %q at %v, revision %d, %d flags", file.Format, file.ExportedAt, file.Revision, len(file.Flags))
	}
	if got, want := string(file.Flags[0]), string(f.def(0, false)); got != want {
		t.Errorf("first flag:\n got %s\nwant %s (as stored)", got, want)
	}
	if !bytes.Contains(out, f.def(5, false)) || bytes.Contains(out, f.def(5, true)) {
		t.Error("flag 5, rewritten after it was read, is not exported once as first read")
	}
	if !bytes.Contains(out, f.def(1500, true)) {
		t.Error("flag 1500, rewritten before it was read, is missing")
	}
	items, err := decodeImport(out)
	if err != nil || len(items) != n-1 {
		t.Fatalf("decodeImport: %d items, %v", len(items), err)
	}
	for _, it := range items {
		if it.err != nil {
			t.Fatalf("flag %s does not import: %v", it.id, it.err)
		}
	}
}
