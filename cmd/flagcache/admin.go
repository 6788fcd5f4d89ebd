package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
)

// The admin subcommands talk to a running daemon through package client.
// Each takes the connection flags below; FLAGCACHE_URL and FLAGCACHE_TOKEN
// stand in for --url and --token (FLAGCACHE_TOKEN is also the write token
// `serve` accepts, so one variable serves both on one host).
const (
	envURL     = "FLAGCACHE_URL"
	envToken   = "FLAGCACHE_TOKEN"
	defaultURL = "http://127.0.0.1:8080"
)

// conn holds the connection flags of an admin subcommand.
type conn struct {
	url, token *string
	timeout    *time.Duration
}

func (c *cli) connFlags(fs *flag.FlagSet) *conn {
	return &conn{
		url:     fs.String("url", "", "daemon base `URL` (default $"+envURL+", else "+defaultURL+")"),
		token:   fs.String("token", "", "bearer `token` (default $"+envToken+")"),
		timeout: fs.Duration("timeout", 30*time.Second, "bound on each HTTP request"),
	}
}

// dial returns a client of the daemon the flags and environment name.
func (c *cli) dial(k *conn) (*client.Client, error) {
	url, token := *k.url, *k.token
	if url == "" {
		url = c.getenv(envURL)
	}
	if url == "" {
		url = defaultURL
	}
	if token == "" {
		token = c.getenv(envToken)
	}
	token = strings.TrimSpace(token) // a token file read into the variable ends in a newline
	opts := []client.Option{client.WithTimeout(*k.timeout)}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	cl, err := client.New(url, opts...)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return cl, nil
}

// parseArgs parses flags that may come before or after the positional
// arguments and returns the positional ones, which must number between
// min and max.
func parseArgs(fs *flag.FlagSet, args []string, min, max int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < min || len(pos) > max {
		return nil, usageError{fmt.Sprintf("want %s, got %d argument(s)", names, len(pos))}
	}
	return pos, nil
}

// parseIfMatch reads --if-match: a version (3), an entity tag (v3, "v3",
// W/"v3"), or * / 0 for unconditional. ok is false when it was not given.
func parseIfMatch(s string) (version int64, ok bool, err error) {
	switch s = strings.TrimSpace(s); s {
	case "":
		return 0, false, nil
	case "*", "0":
		return 0, true, nil
	}
	if n, err := strconv.ParseInt(strings.TrimPrefix(s, "v"), 10, 64); err == nil && n > 0 {
		return n, true, nil
	}
	n, err := flagcache.ParseETag(s)
	if err != nil {
		return 0, false, usageError{fmt.Sprintf("--if-match %q: want a version such as 3, v3 or \"v3\", or *", s)}
	}
	return n, true, nil
}

// writeJSON prints v compact on one line: definitions are written as they
// are, never re-indented (indenting a deeply nested value re-parses it and
// grows with the square of its depth). Pipe through jq to read it.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

func (c *cli) get(ctx context.Context, args []string) error {
	fs := c.flagSet("get")
	k := c.connFlags(fs)
	defOnly := fs.Bool("definition", false, "print only the definition (what create and update read)")
	fs.Usage = func() {
		c.usageOf(fs, "get", "Prints the stored flag: definition, version, etag, revision.")
	}
	pos, err := parseArgs(fs, args, 1, 1, "one flag id")
	if err != nil {
		return err
	}
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	s, err := cl.Get(ctx, flagcache.ID(pos[0]))
	if err != nil {
		return err
	}
	if *defOnly {
		return writeJSON(c.stdout, s.Definition)
	}
	return writeJSON(c.stdout, s)
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func (c *cli) list(ctx context.Context, args []string) error {
	fs := c.flagSet("list")
	k := c.connFlags(fs)
	var q flagcache.Query
	var tags stringList
	status := fs.String("status", "", "only flags with this `status` (inactive, active, deprecated, archived)")
	fs.StringVar(&q.Environment, "env", "", "only flags that define this `environment`")
	fs.Var(&tags, "tag", "only flags with this `tag` (repeat for any of several)")
	fs.StringVar(&q.Owner, "owner", "", "only flags of this `owner`")
	fs.BoolVar(&q.IncludeArchived, "include-archived", false, "include archived flags")
	fs.IntVar(&q.Offset, "offset", 0, "skip this many flags")
	fs.IntVar(&q.Limit, "limit", 0, "at most this many flags (0: all)")
	asJSON := fs.Bool("json", false, "print the stored flags as a JSON array")
	if _, err := parseArgs(fs, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	q.Status, q.Tags = flagcache.Status(*status), tags
	if err := q.Validate(); err != nil {
		return usageError{err.Error()}
	}
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	flags, err := cl.List(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		if flags == nil {
			flags = []*flagcache.Stored{}
		}
		return writeJSON(c.stdout, flags)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tSTATUS\tVERSION\tOWNER\tTAGS\tUPDATED")
	for _, s := range flags {
		d := s.Definition
		updated := ""
		if !d.Metadata.UpdatedAt.IsZero() {
			updated = d.Metadata.UpdatedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", cell(string(d.ID)), cell(d.Name), cell(string(d.Kind)), cell(string(d.Status)), s.Version,
			cell(d.Metadata.Owner), cell(strings.Join(d.Metadata.Tags, ",")), updated)
	}
	return tw.Flush()
}

// cell keeps a table cell on one line and of bounded width, with every
// control character (terminal escapes included) replaced.
func cell(s string) string {
	s = sanitize(s)
	if utf8.RuneCountInString(s) > 48 {
		r := []rune(s)
		return string(r[:47]) + "…"
	}
	return s
}

// sanitize replaces control characters (C0, DEL, C1: ESC starts a terminal
// escape), bidi overrides and invalid UTF-8 by U+FFFD, so text from the
// store cannot drive the terminal it is printed on.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r), r == utf8.RuneError,
			r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			return '\uFFFD'
		}
		return r
	}, s)
}

// readInput reads --file, or stdin when it is "" or "-".
func (c *cli) readInput(path string) ([]byte, error) {
	if path == "" || path == "-" {
		return io.ReadAll(c.stdin)
	}
	return os.ReadFile(path)
}

// readFlag reads one flag from --file or stdin (see decodeFlag).
func (c *cli) readFlag(path string) (*flagcache.Definition, int64, error) {
	data, err := c.readInput(path)
	if err != nil {
		return nil, 0, err
	}
	return decodeFlag(data)
}

// decodeFlag reads one definition, given bare or in the shape `get`
// prints ({"definition": …, "version": N}); version is 0 for a bare one.
func decodeFlag(data []byte) (def *flagcache.Definition, version int64, err error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, 0, usageError{"no input: give --file or pipe a JSON definition"}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, 0, fmt.Errorf("the input is not a JSON object: %w", err)
	}
	if _, ok := probe["definition"]; ok {
		var s flagcache.Stored
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, 0, fmt.Errorf("decoding the stored flag: %w", err)
		}
		if s.Definition == nil {
			return nil, 0, errors.New(`"definition" is null`)
		}
		return s.Definition, s.Version, nil
	}
	def = new(flagcache.Definition)
	if err := json.Unmarshal(data, def); err != nil {
		return nil, 0, fmt.Errorf("decoding the definition: %w", err)
	}
	return def, 0, nil
}

// report prints the result of a write: a line, or the flag with --json.
func (c *cli) report(verb string, s *flagcache.Stored, asJSON bool) error {
	if asJSON {
		return writeJSON(c.stdout, s)
	}
	_, err := fmt.Fprintf(c.stdout, "%s %s at version %d (revision %d)\n", verb, s.Definition.ID, s.Version, s.Revision)
	return err
}

func (c *cli) create(ctx context.Context, args []string) error {
	fs := c.flagSet("create")
	k := c.connFlags(fs)
	file := fs.String("file", "", "JSON definition `file` (default: stdin)")
	asJSON := fs.Bool("json", false, "print the stored flag as JSON")
	if _, err := parseArgs(fs, args, 0, 0, "no arguments (the definition comes from --file or stdin)"); err != nil {
		return err
	}
	def, _, err := c.readFlag(*file)
	if err != nil {
		return err
	}
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	s, err := cl.Create(ctx, def)
	if err != nil {
		return err
	}
	return c.report("created", s, *asJSON)
}

func (c *cli) update(ctx context.Context, args []string) error {
	fs := c.flagSet("update")
	k := c.connFlags(fs)
	file := fs.String("file", "", "JSON definition `file` (default: stdin); the output of `get` works too")
	ifMatch := fs.String("if-match", "", "replace only at this `version` (3, v3 or \"v3\"; * for unconditional). "+
		"Default: the version of input shaped like `get` output, else unconditional")
	asJSON := fs.Bool("json", false, "print the stored flag as JSON")
	fs.Usage = func() {
		c.usageOf(fs, "update", "Replaces a flag. An ID argument must match the definition's id (or fills it in).")
	}
	pos, err := parseArgs(fs, args, 0, 1, "at most one flag id")
	if err != nil {
		return err
	}
	expected, given, err := parseIfMatch(*ifMatch)
	if err != nil {
		return err
	}
	def, version, err := c.readFlag(*file)
	if err != nil {
		return err
	}
	if !given {
		expected = version
	}
	if len(pos) == 1 {
		switch id := flagcache.ID(pos[0]); def.ID {
		case "":
			def.ID = id
		case id:
		default:
			return usageError{fmt.Sprintf("the definition's id %q differs from the argument %q", def.ID, id)}
		}
	}
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	s, err := cl.Update(ctx, def, expected)
	if err != nil {
		return err
	}
	return c.report("updated", s, *asJSON)
}

func (c *cli) delete(ctx context.Context, args []string) error {
	fs := c.flagSet("delete")
	k := c.connFlags(fs)
	ifMatch := fs.String("if-match", "", "delete only at this `version` (3, v3 or \"v3\")")
	pos, err := parseArgs(fs, args, 1, 1, "one flag id")
	if err != nil {
		return err
	}
	expected, _, err := parseIfMatch(*ifMatch)
	if err != nil {
		return err
	}
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	ch, err := cl.Delete(ctx, flagcache.ID(pos[0]), expected)
	if err != nil {
		return err
	}
	if ch.Revision > 0 {
		_, err = fmt.Fprintf(c.stdout, "deleted %s (tombstone version %d, revision %d)\n", ch.ID, ch.Version, ch.Revision)
	} else {
		_, err = fmt.Fprintf(c.stdout, "deleted %s\n", ch.ID)
	}
	return err
}
