package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/flagcache/flagcache"
)

func (c *cli) history(ctx context.Context, args []string) error {
	fs := c.flagSet("history")
	k := c.connFlags(fs)
	limit := fs.Int("limit", 0, "print at most `N` versions (0: all)")
	before := fs.Int64("before", 0, "start below this `version` (0: the newest)")
	asJSON := fs.Bool("json", false, `print {"versions": [...], "next": N} with the full definitions`)
	fs.Usage = func() {
		c.usageOf(fs, "history", "Prints the kept versions of a flag, newest first: version, revision, op, actor, time.")
	}
	pos, err := parseArgs(fs, args, 1, 1, "one flag id")
	if err != nil {
		return err
	}
	if *limit < 0 || *before < 0 {
		return usageError{"--limit and --before must not be negative"}
	}
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	page, err := cl.History(ctx, flagcache.ID(pos[0]), *before, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(c.stdout, page)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tREVISION\tOP\tACTOR\tAT\tNAME\tSTATUS")
	for _, e := range page.Versions {
		name, status := "", ""
		if e.Definition != nil {
			name, status = cell(e.Definition.Name), string(e.Definition.Status)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", e.Version, e.Revision, e.Op, cell(e.Actor),
			e.At.UTC().Format(time.RFC3339), name, status)
	}
	return tw.Flush()
}

// revert writes version N's definition back as a new version. It is a
// compare-and-set on the version it read as current (a create if the flag
// is deleted), so a write that races it makes it fail with a conflict and
// overwrites nothing.
func (c *cli) revert(ctx context.Context, args []string) error {
	fs := c.flagSet("revert")
	k := c.connFlags(fs)
	to := fs.Int64("to", 0, "the `version` to write back (required)")
	ifMatch := fs.String("if-match", "", "revert only if the flag is still at this `version` (default: the one read now)")
	asJSON := fs.Bool("json", false, "print the stored flag as JSON")
	fs.Usage = func() {
		c.usageOf(fs, "revert", "Writes version N's definition back as a new version, with If-Match on the\ncurrent one: a write in between makes it fail, and nothing is overwritten.")
	}
	pos, err := parseArgs(fs, args, 1, 1, "one flag id")
	if err != nil {
		return err
	}
	if *to < 1 {
		return usageError{"--to: want the version to write back, 1 or more"}
	}
	expected, pinned, err := parseIfMatch(*ifMatch)
	if err != nil {
		return err
	}
	id := flagcache.ID(pos[0])
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	old, err := cl.GetVersion(ctx, id, *to)
	if err != nil {
		return err
	}
	cur, err := cl.Get(ctx, id)
	switch {
	case errors.Is(err, flagcache.ErrNotFound) && (!pinned || expected == 0):
		s, err := cl.Create(ctx, old.Definition)
		if errors.Is(err, flagcache.ErrAlreadyExists) {
			return fmt.Errorf("conflict: %s was re-created while reverting; nothing was overwritten: %w", id, err)
		}
		if err != nil {
			return err
		}
		return c.report("reverted to version "+strconv.FormatInt(*to, 10)+" by re-creating", s, *asJSON)
	case err != nil:
		return err
	}
	if !pinned || expected == 0 {
		expected = cur.Version
	}
	s, err := cl.Update(ctx, old.Definition, expected)
	var conflict *flagcache.VersionConflictError
	if errors.As(err, &conflict) {
		return fmt.Errorf("conflict: %s is at version %d, not %d: another write came first; nothing was overwritten (look at `flagcache history %s` and try again)",
			id, conflict.Actual, expected, id)
	}
	if err != nil {
		return err
	}
	return c.report("reverted to version "+strconv.FormatInt(*to, 10)+":", s, *asJSON)
}
