package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped at build time:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/flagcache
//
// (make build, make release and the Dockerfile do it). Unstamped, the
// module version or the VCS revision of the build is shown.
var (
	version = ""
	commit  = ""
)

// buildInfo is what `flagcache version --json` prints and what
// flagcache_build_info carries.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if b.Commit == "" && ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				b.Commit = s.Value
			}
		}
	}
	if b.Version != "" {
		return b
	}
	switch {
	case !ok:
		b.Version = "unknown"
	case info.Main.Version != "" && info.Main.Version != "(devel)":
		b.Version = info.Main.Version
	case len(b.Commit) >= 12:
		b.Version = "devel-" + b.Commit[:12]
	default:
		b.Version = "devel"
	}
	return b
}

// versionString is the version alone, for logs and the OTel resource.
func versionString() string { return currentBuild().Version }

func (c *cli) version(ctx context.Context, args []string) error {
	fs := c.flagSet("version")
	asJSON := fs.Bool("json", false, "print the version, commit, Go version, OS and architecture as a JSON object")
	if err := parse(fs, args); err != nil {
		return err
	}
	b := currentBuild()
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	fmt.Fprintf(c.stdout, "flagcache %s (%s, %s/%s)\n", b.Version, b.GoVersion, b.OS, b.Arch)
	return nil
}
