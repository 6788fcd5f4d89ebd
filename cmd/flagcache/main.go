// Command flagcache is the flagcache daemon and its admin tool.
//
// The daemon:
//
//	flagcache serve         run the HTTP API (embedded store in ./flagcache-data by default)
//	flagcache migrate       apply the Postgres migrations
//	flagcache healthcheck   probe a running daemon (the container's HEALTHCHECK)
//	flagcache version       print the version (--json: with commit, Go version, OS, arch)
//
// The admin commands, which talk to a running daemon over its HTTP API:
//
//	flagcache get           print a flag as JSON
//	flagcache list          list flags (filters; a table or --json)
//	flagcache create        create a flag from a JSON file or stdin
//	flagcache update        replace a flag from a JSON file or stdin (--if-match)
//	flagcache delete        delete a flag (--if-match)
//	flagcache export        write every flag to a JSON file
//	flagcache import        create or update flags from an export file
//	flagcache history       print a flag's versions, newest first (a table or --json)
//	flagcache revert        write an earlier version of a flag back (--to N)
//
// And `flagcache help CMD` (the flags of CMD) and `flagcache --version`.
// The benchmark rig is a binary of its own, cmd/flagcache-bench.
//
// Every command is one row of the commands table in main.go. main only
// wires the process (signals, exit code) to run, so tests drive the very
// same code in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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
	cmd            command // the command running, for its help
}

// command is a subcommand: one row of commands. args is the synopsis of
// its arguments after the flags, for its usage line.
type command struct {
	name    string
	args    string
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

// commands is every subcommand, in the order of the usage message; the
// package doc lists them too.
var commands = []command{
	{"serve", "", "run the HTTP API daemon", (*cli).serve},
	{"migrate", "", "apply the Postgres schema migrations", (*cli).migrate},
	{"healthcheck", "", "probe a running daemon (for container health checks)", (*cli).healthcheck},
	{"version", "", "print the version", (*cli).version},
	{"get", "ID", "print a flag as JSON", (*cli).get},
	{"list", "", "list flags (filters; a table or --json)", (*cli).list},
	{"create", "", "create a flag from a JSON file or stdin", (*cli).create},
	{"update", "[ID]", "replace a flag from a JSON file or stdin (--if-match)", (*cli).update},
	{"delete", "ID", "delete a flag (--if-match)", (*cli).delete},
	{"export", "", "write every flag to a JSON file", (*cli).export},
	{"import", "", "create or update flags from an export file", (*cli).importFlags},
	{"history", "ID", "print a flag's versions, newest first (a table or --json)", (*cli).history},
	{"revert", "--to N ID", "write an earlier version of a flag back (--to N)", (*cli).revert},
}

// helpCommand is help's row: not in commands, which it reads.
var helpCommand = command{name: "help", args: "[command]", summary: "print the help of a command: flagcache help <command>"}

func lookup(name string) (command, bool) {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
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
		return c.help(ctx, args[1:])
	case "--version", "-version":
		return c.exit("version", c.version(ctx, args[1:])) // --version --json works too
	}
	cmd, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "flagcache: unknown command %q\n\n", args[0])
		c.usage(c.stderr)
		return 2
	}
	c.cmd = cmd
	return c.exit(cmd.name, cmd.run(c, ctx, args[1:]))
}

// exit reports the error of command name and returns the exit code.
func (c *cli) exit(name string, err error) int {
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(c.stderr, "flagcache %s: %v\n", name, err)
		return 2
	}
	fmt.Fprintf(c.stderr, "flagcache %s: %v\n", name, err)
	return 1
}

// help prints the usage, or with a command name that command's help (on
// stdout: it was asked for).
func (c *cli) help(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stdout)
		return 0
	}
	if len(args) == 1 && strings.TrimLeft(args[0], "-") == helpCommand.name { // help help, help --help
		h := *c
		h.cmd = helpCommand
		h.printUsage(c.stdout, helpCommand.name, "")
		return 0
	}
	cmd, ok := lookup(args[0])
	if !ok || len(args) > 1 {
		fmt.Fprintf(c.stderr, "flagcache help: want one command name, got %q\n\n", strings.Join(args, " "))
		c.usage(c.stderr)
		return 2
	}
	out := *c
	out.stderr, out.cmd = c.stdout, cmd
	return out.exit(cmd.name, cmd.run(&out, ctx, []string{"--help"}))
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: flagcache <command> [flags]\n\nCommands:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "  %-12s %s\n", helpCommand.name, helpCommand.summary)
	fmt.Fprintln(w, "\nRun 'flagcache help <command>' for the flags of a command; 'flagcache --version' for the version.")
}

// flagSet returns a FlagSet for a subcommand that reports to stderr and
// prints its flags with "--".
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("flagcache "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { c.usageOf(fs, name, "") }
	return fs
}

// usageOf prints the help of command name: its usage line, the longer
// description given (else its summary), and its flags.
func (c *cli) usageOf(fs *flag.FlagSet, name, description string) {
	c.printUsage(fs.Output(), name, description)
	fmt.Fprintln(fs.Output(), "\nFlags:")
	printFlags(fs)
}

// printUsage prints the usage line of command name, with the arguments of
// the command running, and the description, else its summary.
func (c *cli) printUsage(w io.Writer, name, description string) {
	line := "Usage: flagcache " + name
	if name != helpCommand.name {
		line += " [flags]"
	}
	if c.cmd.args != "" {
		line += " " + c.cmd.args
	}
	fmt.Fprintln(w, line)
	if description == "" && c.cmd.summary != "" {
		description = strings.ToUpper(c.cmd.summary[:1]) + c.cmd.summary[1:] + "."
	}
	if description != "" {
		fmt.Fprintf(w, "\n%s\n", description)
	}
}

// printFlags is flag.PrintDefaults with "--" before each name: the flag
// package accepts both, and "--" is what users of other CLIs type.
func printFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		var b strings.Builder
		fmt.Fprintf(&b, "  --%s", f.Name)
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			b.WriteString(" " + name)
		}
		b.WriteString("\n    \t")
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "0s" {
			if g, ok := f.Value.(flag.Getter); ok {
				if _, isString := g.Get().(string); isString {
					def = fmt.Sprintf("%q", def)
				}
			}
			fmt.Fprintf(&b, " (default %s)", def)
		}
		fmt.Fprintln(fs.Output(), b.String())
	})
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
