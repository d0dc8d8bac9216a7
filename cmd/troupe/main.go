// Command troupe inspects and maintains troupe homes, and Codex homes too:
// it lists threads and their spawn trees, shows and searches them, archives
// and deletes them, compresses cold rollouts and rebuilds the index.
//
// Every subcommand takes --home DIR (default ~/.troupe; a Codex home such
// as ~/.codex works as well) and --json. Exit codes: 0 ok, 1 error, 2 usage.
// Run "troupe help" for the list of subcommands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
