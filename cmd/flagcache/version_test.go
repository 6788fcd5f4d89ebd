package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestStampedVersion builds the binary as make build and make release do,
// with the version and commit stamped by -ldflags -X, and checks that
// --version, version and version --json report them.
func TestStampedVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	const stamped, commitID = "v9.8.7-test.1", "0123456789abcdef0123456789abcdef01234567"
	bin := filepath.Join(t.TempDir(), "flagcache")
	args := []string{"build", "-ldflags", "-X main.version=" + stamped + " -X main.commit=" + commitID, "-o", bin}
	if raceEnabled {
		// The packages this test binary was compiled from are cached with
		// -race: only the link is new work.
		args = append(args, "-race")
	}
	build := exec.Command(goTool, append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	want := "flagcache " + stamped + " (" + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || string(out) != want {
			t.Errorf("flagcache %s: got %q, %v; want %q", strings.Join(args, " "), out, err, want)
		}
	}

	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("flagcache version --json: %v", err)
	}
	var got buildInfo
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("flagcache version --json printed %q: %v", out, err)
	}
	wantInfo := buildInfo{Version: stamped, Commit: commitID, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if got != wantInfo {
		t.Errorf("flagcache version --json: got %+v, want %+v", got, wantInfo)
	}
}

// TestHelp: help CMD prints that command's flags (with "--") on stdout,
// help alone the commands, and an unknown name is a usage error.
func TestHelp(t *testing.T) {
	for _, cmd := range commands {
		t.Run(cmd.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, "help", cmd.name)
			if code != 0 || !strings.Contains(stdout, "Usage: flagcache "+cmd.name) || stderr != "" {
				t.Fatalf("got %d, stdout %q, stderr %q; want 0 and the command's usage on stdout", code, stdout, stderr)
			}
			for _, line := range strings.Split(stdout, "\n") {
				if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") {
					t.Errorf("a flag printed without --: %q", line)
				}
			}
		})
	}
	// The usage line names the arguments a command takes; every help has
	// the same layout: usage, description, "Flags:".
	usage := map[string]string{
		"get": "Usage: flagcache get [flags] ID", "update": "Usage: flagcache update [flags] [ID]",
		"delete": "Usage: flagcache delete [flags] ID", "history": "Usage: flagcache history [flags] ID",
		"revert": "Usage: flagcache revert [flags] --to N ID", "list": "Usage: flagcache list [flags]",
	}
	for _, cmd := range commands {
		t.Run(cmd.name+" layout", func(t *testing.T) {
			_, stdout, _ := runCLI(t, nil, "help", cmd.name)
			lines := strings.Split(stdout, "\n")
			if want, ok := usage[cmd.name]; ok && lines[0] != want {
				t.Errorf("usage line: got %q, want %q", lines[0], want)
			}
			if !strings.Contains(stdout, "\n\nFlags:\n") {
				t.Errorf("no \"Flags:\" section:\n%s", stdout)
			}
		})
	}
	t.Run("help help", func(t *testing.T) {
		for _, args := range [][]string{{"help", "help"}, {"help", "--help"}} {
			code, stdout, stderr := runCLI(t, nil, args...)
			if code != 0 || !strings.Contains(stdout, "Usage: flagcache help [command]") || stderr != "" {
				t.Errorf("flagcache %s: got %d, stdout %q, stderr %q; want 0 and help's usage", strings.Join(args, " "), code, stdout, stderr)
			}
		}
	})
	t.Run("serve flags", func(t *testing.T) {
		_, stdout, _ := runCLI(t, nil, "help", "serve")
		if !strings.Contains(stdout, "  --listen address") || !strings.Contains(stdout, "Run the HTTP API daemon.") {
			t.Fatalf("got %q, want --listen and the summary", stdout)
		}
	})
	t.Run("all commands", func(t *testing.T) {
		code, stdout, _ := runCLI(t, nil, "help")
		for _, cmd := range commands {
			if code != 0 || !strings.Contains(stdout, "  "+cmd.name+" ") {
				t.Errorf("got %d %q, want 0 and %s listed", code, stdout, cmd.name)
			}
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if code, _, stderr := runCLI(t, nil, "help", "nosuch"); code != 2 || !strings.Contains(stderr, "nosuch") {
			t.Fatalf("got %d %q, want 2 naming the command", code, stderr)
		}
	})
}
