// Command flagcache is the flagcache daemon and its admin tool.
//
//	flagcache serve         run the HTTP API (embedded store in ./flagcache-data by default)
//	flagcache migrate       apply the Postgres migrations
//	flagcache healthcheck   probe a running daemon (the container's HEALTHCHECK)
//	flagcache version       print the version
//
// main only wires the process (signals, exit code) to run, so tests drive
// the very same code in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the subcommand named by args[0] and returns the exit code: 0 on
// success, 2 on a usage error, 1 on any other failure.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return c.run(ctx, args)
}

// cli is one invocation's I/O and environment.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is a subcommand. Later subcommands (get, list, create, update,
// delete, export, import) are one more entry each in commands.
type command struct {
	name    string
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

var commands = []command{
	{"serve", "run the HTTP API daemon", (*cli).serve},
	{"migrate", "apply the Postgres schema migrations", (*cli).migrate},
	{"healthcheck", "probe a running daemon (for container health checks)", (*cli).healthcheck},
	{"version", "print the version", (*cli).version},
}

// usageError is a command line that cannot run: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		c.usage(c.stdout)
		return 0
	}
	for _, cmd := range commands {
		if cmd.name != args[0] {
			continue
		}
		err := cmd.run(c, ctx, args[1:])
		var usage usageError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &usage):
			fmt.Fprintf(c.stderr, "flagcache %s: %v\n", cmd.name, err)
			return 2
		}
		fmt.Fprintf(c.stderr, "flagcache %s: %v\n", cmd.name, err)
		return 1
	}
	fmt.Fprintf(c.stderr, "flagcache: unknown command %q\n\n", args[0])
	c.usage(c.stderr)
	return 2
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: flagcache <command> [flags]\n\nCommands:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w, "\nRun 'flagcache <command> -h' for the flags of a command.")
}

// flagSet returns a FlagSet for a subcommand that reports to stderr.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("flagcache "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

// parse parses args, refusing positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
