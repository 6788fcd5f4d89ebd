package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

// cliResult is one finished invocation of the binary's run.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runAdmin runs `flagcache args...` in-process with stdin and env as its
// whole environment.
func runAdmin(t *testing.T, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	code := c.run(ctx, args)
	return cliResult{code, stdout.String(), stderr.String()}
}

// ok runs the command and fails the test unless it exits 0.
func (d *testDaemon) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := d.cli(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("flagcache %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// cli runs an admin command against d, naming it through FLAGCACHE_URL
// (and FLAGCACHE_TOKEN when d has a token).
func (d *testDaemon) cli(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runAdmin(t, map[string]string{envURL: d.base, envToken: d.token}, stdin, args...)
}

// wantExit checks an exit code and that stderr mentions what.
func wantExit(t *testing.T, r cliResult, code int, what string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, what) {
		t.Fatalf("got exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, code, what)
	}
}

const darkModeJSON = `{"id":"dark-mode","name":"Dark mode","kind":"string","default_value":"off",
	"status":"active","metadata":{"tags":["ui"],"owner":"team-web"},"environments":{"production":{"enabled":true}}}`

func TestAdminCommands(t *testing.T) {
	d := startServe(t, nil, "--source", "memory")
	dir := t.TempDir()

	t.Run("create from stdin and from a file", func(t *testing.T) {
		out := d.ok(t, checkoutJSON, "create")
		if out != "created new-checkout at version 1 (revision 1)\n" {
			t.Errorf("stdout %q", out)
		}
		// --url instead of FLAGCACHE_URL, --json output.
		r := runAdmin(t, nil, "", "create", "--url", d.base, "--file", writeFile(t, dir, "dark.json", darkModeJSON), "--json")
		var s flagcache.Stored
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &s) != nil || s.Version != 1 || s.Definition.ID != "dark-mode" {
			t.Fatalf("create --file --json: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
		}
		wantExit(t, d.cli(t, darkModeJSON, "create"), 1, "already exists")
		wantExit(t, d.cli(t, `{"id":"x","name":"X","kind":"color","default_value":1}`, "create"), 1, "invalid kind")
		wantExit(t, d.cli(t, "", "create"), 2, "no input")
	})
	t.Run("get", func(t *testing.T) {
		var s flagcache.Stored
		if err := json.Unmarshal([]byte(d.ok(t, "", "get", "new-checkout")), &s); err != nil || s.Version != 1 || s.ETag != `"v1"` {
			t.Fatalf("get: %+v, %v", s, err)
		}
		if !s.Definition.HasTag("checkout") || s.Definition.Extra["x_other_writer"] == nil {
			t.Errorf("get lost fields: %+v", s.Definition)
		}
		var def flagcache.Definition
		if err := json.Unmarshal([]byte(d.ok(t, "", "get", "--definition", "dark-mode")), &def); err != nil || def.Name != "Dark mode" {
			t.Fatalf("get --definition: %+v, %v", def, err)
		}
		wantExit(t, d.cli(t, "", "get", "nope"), 1, `flag "nope" not found`)
		wantExit(t, d.cli(t, "", "get"), 2, "want one flag id")
		wantExit(t, d.cli(t, "", "get", "a b"), 1, "invalid id")
	})
	t.Run("list", func(t *testing.T) {
		out := d.ok(t, "", "list")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], "dark-mode ") || !strings.HasPrefix(lines[2], "new-checkout ") {
			t.Fatalf("list table:\n%s", out)
		}
		if !strings.Contains(lines[2], "team-payments") || !strings.Contains(lines[2], "checkout") {
			t.Errorf("list row lacks owner or tags: %q", lines[2])
		}
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{"tag", []string{"--tag", "ui", "--tag", "nothing"}, []string{"dark-mode"}},
			{"owner", []string{"--owner", "team-payments"}, []string{"new-checkout"}},
			{"env", []string{"--env", "staging"}, []string{"new-checkout"}},
			{"status", []string{"--status", "inactive"}, []string{}},
			{"paging", []string{"--offset", "1", "--limit", "1"}, []string{"new-checkout"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var flags []*flagcache.Stored
				out := d.ok(t, "", append([]string{"list", "--json"}, tc.args...)...)
				if err := json.Unmarshal([]byte(out), &flags); err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, f := range flags {
					got = append(got, string(f.Definition.ID))
				}
				if strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		wantExit(t, d.cli(t, "", "list", "--status", "paused"), 2, "invalid status")
	})
	t.Run("update", func(t *testing.T) {
		// The output of get carries its version: update is a compare-and-set.
		got := d.ok(t, "", "get", "dark-mode")
		edited := strings.Replace(got, `"Dark mode"`, `"Dark mode (beta)"`, 1)
		if out := d.ok(t, edited, "update"); out != "updated dark-mode at version 2 (revision 3)\n" {
			t.Errorf("stdout %q", out)
		}
		wantExit(t, d.cli(t, edited, "update"), 1, "expected version 1, current version is 2")
		d.ok(t, edited, "update", "--if-match", "*")
		wantExit(t, d.cli(t, darkModeJSON, "update", "--if-match", "v2"), 1, "version conflict")
		d.ok(t, darkModeJSON, "update", "--if-match", `"v3"`)
		// An id argument fills in a definition without one.
		d.ok(t, strings.Replace(darkModeJSON, `"id":"dark-mode",`, "", 1), "update", "dark-mode")
		wantExit(t, d.cli(t, darkModeJSON, "update", "other"), 2, "differs")
		wantExit(t, d.cli(t, darkModeJSON, "update", "--if-match", "three"), 2, "--if-match")
		var s flagcache.Stored
		json.Unmarshal([]byte(d.ok(t, "", "get", "dark-mode")), &s)
		if s.Version != 5 || s.Definition.Name != "Dark mode" {
			t.Errorf("after the updates: version %d name %q, want 5 and Dark mode", s.Version, s.Definition.Name)
		}
	})
	t.Run("delete", func(t *testing.T) {
		wantExit(t, d.cli(t, "", "delete", "dark-mode", "--if-match", "4"), 1, "version conflict")
		if out := d.ok(t, "", "delete", "--if-match", "5", "dark-mode"); out != "deleted dark-mode (tombstone version 6, revision 7)\n" {
			t.Errorf("stdout %q", out)
		}
		wantExit(t, d.cli(t, "", "delete", "dark-mode"), 1, "not found")
		wantExit(t, d.cli(t, "", "delete"), 2, "want one flag id")
	})
}

func TestAdminAuth(t *testing.T) {
	d := startServe(t, map[string]string{"FLAGCACHE_TOKEN": "admin-secret-0123456"}, "--source", "memory")
	wantExit(t, d.cli(t, "", "list"), 1, "missing bearer token")
	wantExit(t, runAdmin(t, map[string]string{envURL: d.base}, "", "list", "--token", "wrong"), 1, "not valid")
	d.token = "admin-secret-0123456"
	d.ok(t, checkoutJSON, "create")
	if r := runAdmin(t, map[string]string{envURL: d.base}, "", "get", "--token", "admin-secret-0123456", "new-checkout"); r.code != 0 {
		t.Errorf("get --token: exit %d, %s", r.code, r.stderr)
	}
}

func TestAdminUnreachable(t *testing.T) {
	r := runAdmin(t, map[string]string{envURL: "http://127.0.0.1:1"}, "", "list", "--timeout", "2s")
	wantExit(t, r, 1, "unavailable")
	wantExit(t, runAdmin(t, map[string]string{envURL: "127.0.0.1:8080"}, "", "list"), 2, "base URL")
}

// exportOf runs export against d into a file in dir and decodes it.
func exportOf(t *testing.T, d *testDaemon, dir, name string) (string, exportFile) {
	t.Helper()
	path := filepath.Join(dir, name)
	d.ok(t, "", "export", "--file", path)
	var f exportFile
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return path, f
}
