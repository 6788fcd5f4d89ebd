package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or VCS revision of the build is shown.
var version = ""

func (c *cli) version(ctx context.Context, args []string) error {
	if err := parse(c.flagSet("version"), args); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "flagcache %s (%s)\n", versionString(), runtime.Version())
	return nil
}

func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
