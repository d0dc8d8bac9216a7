// Command troupe-envd serves a local environment over HTTP/JSON so that
// agents on another machine can use it as a remote environment
// (environment.NewRemote).
//
// Usage:
//
//	troupe-envd --root DIR [--addr 127.0.0.1:7420] [--token TOKEN]
//
// The token may also come from the TROUPE_ENVD_TOKEN variable (which keeps
// it out of process listings); one of the two is required. Clients send it
// as "Authorization: Bearer TOKEN". File operations are confined to --root
// (and its descendants); commands run with --root as working directory but
// are not sandboxed: anyone holding the token can run any command as the
// user running troupe-envd. Listen on loopback or behind TLS.
// The server stops gracefully on SIGINT or SIGTERM. Exit codes: 0 after a
// clean stop, 1 on a runtime error, 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/troupe-run/troupe/environment"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// run parses args and serves until ctx ends. ready, if non-nil, receives
// the listening address (for tests).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) int {
	fs := flag.NewFlagSet("troupe-envd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7420", "address to listen on (host:port)")
	root := fs.String("root", "", "directory to serve: working directory and confinement root (required)")
	token := fs.String("token", "", "bearer token clients must send (default $TROUPE_ENVD_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "troupe-envd: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *token == "" {
		*token = getenv("TROUPE_ENVD_TOKEN")
	}
	if *token == "" {
		fmt.Fprintln(stderr, "troupe-envd: a token is required: --token or TROUPE_ENVD_TOKEN")
		return 2
	}
	if *root == "" {
		fmt.Fprintln(stderr, "troupe-envd: --root is required")
		return 2
	}
	env, err := environment.NewLocal(environment.LocalConfig{Dir: *root})
	if err != nil {
		fmt.Fprintf(stderr, "troupe-envd: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "troupe-envd: %v\n", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv := &http.Server{
		Handler:           environment.NewServer(env, *token),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
	}
	log.Info("troupe-envd serving", "addr", ln.Addr().String(), "root", *root)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1) // Serve's one result; buffered so it never blocks
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "troupe-envd: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		fmt.Fprintf(stderr, "troupe-envd: shutdown: %v\n", err)
		return 1
	}
	log.Info("troupe-envd stopped")
	return 0
}
