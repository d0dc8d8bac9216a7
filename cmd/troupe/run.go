package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/troupe-run/troupe/examples/scenario"
)

// runCommand is "troupe run SCENARIO": the example scenarios of
// examples/, with their trace on stdout (stderr with --json, whose stdout
// is the result).
func runCommand() *command {
	var crash, fresh bool
	return &command{
		name:    "run",
		nargs:   1,
		argName: "a SCENARIO (" + fmt.Sprint(scenario.Names()) + ")",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&crash, "crash", false, "long_running: stop the first run like a killed process (exit 3)")
			fs.BoolVar(&fresh, "fresh", false, "long_running: start over even if an unfinished run is in the home")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			sc, ok := scenario.Lookup(args[0])
			if !ok {
				return usagef("run: unknown scenario %q (have %v)", args[0], scenario.Names())
			}
			if (crash || fresh) && sc.Usage == "" {
				return usagef("run: --crash and --fresh are for long_running")
			}
			home := a.home
			if home == "" {
				h, err := scenario.DefaultHome()
				if err != nil {
					return err
				}
				home = h
			}
			ep, err := scenario.EndpointFromEnv(os.Getenv)
			if err != nil {
				return usagef("run: %v", err)
			}
			var trace io.Writer = a.stdout
			if a.json {
				trace = a.stderr
			}
			opts := scenario.Options{Home: home, Out: trace, Endpoint: ep, Fresh: fresh}
			if crash {
				opts.Crash = func() {
					fmt.Fprintln(a.stderr, "troupe: --crash: exiting now without closing anything, like a killed process")
					os.Exit(3)
				}
			}
			if ep != nil {
				fmt.Fprintf(a.stderr, "model: %s\n", ep)
			}
			res, err := sc.Run(ctx, opts)
			if err != nil {
				return fmt.Errorf("run %s: %w", sc.Name, err)
			}
			if a.json {
				return a.writeJSON(res)
			}
			scenario.Footer(a.stderr, res)
			return nil
		},
	}
}
