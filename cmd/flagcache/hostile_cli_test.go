package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportTargets: export --file never renames over a non-regular
// file: a device (here through a link to /dev/null) is written in place, a
// directory is refused, and an existing file keeps its mode.
func TestExportTargets(t *testing.T) {
	d := startServe(t, nil, "--source", "memory")
	d.ok(t, darkModeJSON, "create")
	dir := t.TempDir()

	link := filepath.Join(dir, "null")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	d.ok(t, "", "export", "--file", link)
	if st, err := os.Stat("/dev/null"); err != nil || st.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a device: %v, %v", st.Mode(), err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", st.Mode(), err)
	}

	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	wantExit(t, d.cli(t, "", "export", "--file", sub), 2, "not a regular file")

	file := filepath.Join(dir, "flags.json")
	os.WriteFile(file, []byte("old"), 0o600)
	d.ok(t, "", "export", "--file", file)
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the export changed the file's mode to %v (%v), want 0600", st.Mode().Perm(), err)
	}
	var f exportFile
	data, _ := os.ReadFile(file)
	if err := json.Unmarshal(data, &f); err != nil || len(f.Flags) != 1 {
		t.Fatalf("the export does not decode: %v, %d flags", err, len(f.Flags))
	}
}

// TestCompactOutput: get, list --json and export write definitions
// compact (a value nested 60 deep prints in its own size, not squared).
func TestCompactOutput(t *testing.T) {
	d := startServe(t, nil, "--source", "memory")
	deep := strings.Repeat("[", 60) + strings.Repeat("]", 60)
	d.ok(t, `{"id":"deep","name":"Deep","kind":"json","default_value":`+deep+`}`, "create")
	for _, args := range [][]string{{"get", "deep"}, {"get", "--definition", "deep"}, {"list", "--json"}, {"export"}} {
		out := d.ok(t, "", args...)
		if !strings.Contains(out, deep) || strings.Contains(out, "\n  ") || len(out) > 2000 {
			t.Errorf("flagcache %s: not compact (%d bytes):\n%.300s", strings.Join(args, " "), len(out), out)
		}
	}
}

// TestTerminalEscapes: control characters of names, owners and tags are
// replaced in list, and import's report quotes ids and replaces them.
func TestTerminalEscapes(t *testing.T) {
	d := startServe(t, nil, "--source", "memory")
	d.ok(t, `{"id":"evil","name":"x\u001b]0;pwned\u0007\u001b[2J","kind":"boolean","default_value":true,`+
		`"metadata":{"owner":"o\u009b31m","tags":["t\u001b[5m"]}}`, "create")
	out := d.ok(t, "", "list")
	if strings.ContainsAny(out, "\x1b\x07\u009b") {
		t.Errorf("list printed control characters: %q", out)
	}
	r := d.cli(t, `[{"id":"bad\u001b[2Jid","name":"N","kind":"boolean","default_value":true}]`, "import")
	if strings.ContainsAny(r.stderr, "\x1b") || !strings.Contains(r.stderr, `"bad\x1b[2Jid"`) {
		t.Errorf("import report: %q", r.stderr)
	}
}

// TestImportConcurrencyCapped: --concurrency is bounded.
func TestImportConcurrencyCapped(t *testing.T) {
	d := startServe(t, nil, "--source", "memory")
	wantExit(t, d.cli(t, "[]", "import", "--concurrency", "100000000"), 2, "use 1 to 64")
	wantExit(t, d.cli(t, "[]", "import", "--concurrency", "0"), 2, "use 1 to 64")
}
