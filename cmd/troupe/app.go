package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usageText = `usage: troupe [--home DIR] [--json] <command> [arguments]

Commands:
  threads list [--archived] [--parent ID | --ancestor ID] [--sort created|updated|recency] [--limit N] [--cursor C]
  threads tree ID          draw the spawn tree below a thread
  threads show ID [--turns]
  threads search TEXT [--archived | --all] [--case-sensitive] [--limit N] [--cursor C]
  threads archive ID       archive a thread and its descendants
  threads unarchive ID
  threads delete ID        delete a thread and all its descendants
  compress [--older-than DUR] [--dry-run]
  index rebuild            rebuild the index from the rollouts on disk
  run SCENARIO [--crash] [--fresh]
                           run an example scenario into the home: research_team,
                           code_review, long_running (offline unless OPENAI_API_KEY is set)
  help

Every command takes --home DIR (default ~/.troupe; a Codex home such as ~/.codex
works too) and --json. Exit codes: 0 ok, 1 error, 2 usage.
`

// usageError is a command line the program cannot act on (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// app is one invocation: where output goes and the global options.
type app struct {
	stdout, stderr io.Writer
	// terminal is true when stdout is a terminal: progress is drawn as a
	// bar instead of plain lines.
	terminal bool
	home     string
	json     bool
}

// command is one leaf subcommand.
type command struct {
	name string
	// flags registers the command's own flags.
	flags func(fs *flag.FlagSet)
	// nargs is the number of positional arguments required.
	nargs int
	// argName names them in usage errors.
	argName string
	run     func(ctx context.Context, a *app, args []string) error
}

// run parses args, runs the command and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, terminal: isTerminal(stdout)}
	err := a.dispatch(ctx, args)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "troupe: %s\n\n%s", ue.msg, usageText)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "troupe: %v\n", err)
		return exitError
	}
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	global := flag.NewFlagSet("troupe", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	a.globalFlags(global)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, usageText)
			return err
		}
		return usagef("%v", err)
	}
	rest := global.Args()
	if len(rest) == 0 {
		return usagef("no command given")
	}
	var cmd *command
	switch rest[0] {
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, usageText)
		return nil
	case "threads":
		if len(rest) < 2 {
			return usagef("threads: no subcommand given (list, tree, show, search, archive, unarchive, delete)")
		}
		cmd = threadCommands()[rest[1]]
		if cmd == nil {
			return usagef("threads: unknown subcommand %q", rest[1])
		}
		rest = rest[2:]
	case "run":
		cmd, rest = runCommand(), rest[1:]
	case "compress":
		cmd, rest = compressCommand(), rest[1:]
	case "index":
		if len(rest) < 2 || rest[1] != "rebuild" {
			return usagef("index: the only subcommand is \"rebuild\"")
		}
		cmd, rest = rebuildCommand(), rest[2:]
	default:
		return usagef("unknown command %q", rest[0])
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, usageText)
			return err
		}
		return usagef("%s: %v", cmd.name, err)
	}
	if len(pos) != cmd.nargs {
		if cmd.nargs == 0 {
			return usagef("%s takes no arguments, got %q", cmd.name, strings.Join(pos, " "))
		}
		return usagef("%s needs %s", cmd.name, cmd.argName)
	}
	return cmd.run(ctx, a, pos)
}

// globalFlags registers --home and --json on fs, defaulting to what an
// earlier parse set, so they are accepted before and after the command.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.home, "home", a.home, "the troupe or Codex home (default ~/.troupe)")
	fs.BoolVar(&a.json, "json", a.json, "machine-readable output")
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// homeDir returns the home to use: --home, else ~/.troupe. It must exist:
// nothing here creates a home by accident.
func (a *app) homeDir() (string, error) {
	home := a.home
	if home == "" {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no --home given and no user home directory: %w", err)
		}
		home = filepath.Join(u, ".troupe")
	}
	st, err := os.Stat(home)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("home %s does not exist (give --home DIR)", home)
	case err != nil:
		return "", fmt.Errorf("home %s: %w", home, err)
	case !st.IsDir():
		return "", fmt.Errorf("home %s is not a directory", home)
	}
	return home, nil
}

// openStore opens the store of the home. A missing index is built from the
// rollouts and a corrupt one is recovered; both are reported on stderr with
// progress while the rollouts are read.
func (a *app) openStore(ctx context.Context) (*sqlitestore.Store, error) {
	home, err := a.homeDir()
	if err != nil {
		return nil, err
	}
	p := a.newProgress("indexing rollouts")
	defer p.finish()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{
		Home:     home,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Progress: func(rp sqlitestore.RebuildProgress) { p.set(rp.Done, rp.Total) },
	})
	if err != nil {
		return nil, err
	}
	if r := s.Recovery(); r != nil {
		p.finish()
		fmt.Fprintf(a.stderr, "troupe: the index %s was corrupt (%v)\n", r.DBPath, r.Cause)
		fmt.Fprintf(a.stderr, "troupe: moved it to %s and rebuilt %s from %d rollouts\n", r.BackupDir, r.DBPath, r.Rebuilt.Threads)
	}
	return s, nil
}

// parseID parses a thread id argument.
func parseID(s string) (rollout.ThreadID, error) {
	id, err := rollout.ParseThreadID(s)
	if err != nil {
		return "", usagef("invalid thread id %q", s)
	}
	return id, nil
}

// writeJSON writes v as indented JSON to stdout.
func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
