package scenario

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

// Main is the whole program of examples/<name>: it parses the common flags
// (--home, and --crash and --fresh where the scenario takes them), picks
// the model from the environment (EndpointFromEnv), runs the scenario with
// its trace on stdout and tells on stderr where the threads are and how to
// look at them. Ctrl-C stops the run cleanly. It exits the process.
func Main(name string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Command(ctx, name, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Command runs scenario name as a command line would (Main without the
// process): args are the flags, the result is the exit code (0 ok, 1
// error, 2 usage). "troupe run" and the tests use it.
func Command(ctx context.Context, name string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	s, ok := Lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "unknown scenario %q (have %v)\n", name, Names())
		return 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	home := fs.String("home", "", "the troupe home the threads are left in (default ~/.troupe)")
	crash := fs.Bool("crash", false, "long_running: stop the first run like a killed process (exit 3 without closing anything)")
	fresh := fs.Bool("fresh", false, "long_running: start over even if an unfinished run is in the home")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [--home DIR]", name)
		if s.Usage != "" {
			fmt.Fprint(stderr, " [--crash] [--fresh]")
		}
		fmt.Fprintf(stderr, "\n\n%s: %s.\n\n", name, s.Summary)
		if s.Usage != "" {
			fmt.Fprintln(stderr, s.Usage)
		}
		fmt.Fprintln(stderr, "Offline by default (a scripted model); set OPENAI_API_KEY (and optionally OPENAI_BASE_URL,\nTROUPE_MODEL, TROUPE_API=responses|chat) to run against a real model.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", name, fs.Args())
		return 2
	}
	if (*crash || *fresh) && s.Usage == "" {
		fmt.Fprintf(stderr, "%s: --crash and --fresh are for long_running\n", name)
		return 2
	}
	if *home == "" {
		h, err := DefaultHome()
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		*home = h
	}
	ep, err := EndpointFromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	opts := Options{Home: *home, Out: stdout, Endpoint: ep, Fresh: *fresh}
	if *crash {
		opts.Crash = func() {
			fmt.Fprintln(stderr, "--crash: exiting now without closing anything, like a killed process")
			os.Exit(3)
		}
	}
	if ep != nil {
		fmt.Fprintf(stderr, "model: %s\n", ep)
	}
	res, err := s.Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	Footer(stderr, res)
	return 0
}

// Footer tells where a run's threads are and how to look at them.
func Footer(w io.Writer, res Result) {
	if res.Stopped {
		fmt.Fprintln(w, "\nStopped part-way on purpose. Run the same command again to resume the tree.")
	}
	if res.Root == "" {
		return
	}
	fmt.Fprintf(w, "\nThe threads are in %s. Look at them with:\n", res.Home)
	fmt.Fprintf(w, "  go run ./cmd/troupe --home %s threads list\n", res.Home)
	fmt.Fprintf(w, "  go run ./cmd/troupe --home %s threads tree %s\n", res.Home, res.Root)
	fmt.Fprintf(w, "  go run ./cmd/troupe --home %s threads show %s --turns\n", res.Home, res.Root)
}
