package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/environment"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func noEnv(string) string { return "" }

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--root", dir}, "token is required"},
		{[]string{"--token", "t"}, "--root is required"},
		{[]string{"--token", "t", "--root", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"--token", "t", "--root", dir, "extra"}, "unexpected arguments"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stderr lockedBuffer
		if code := run(t.Context(), tt.args, noEnv, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

func TestServesRemote(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("served"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	addrc := make(chan string, 1) // one address, sent once
	done := make(chan int, 1)     // run's exit code
	var stderr lockedBuffer
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--root", dir}, func(k string) string {
			if k == "TROUPE_ENVD_TOKEN" {
				return "tok"
			}
			return ""
		}, &stderr, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case code := <-done:
		t.Fatalf("run exited %d early: %s", code, stderr.String())
	}
	r, err := environment.NewRemote(environment.RemoteConfig{URL: "http://" + addr, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.ReadFile(t.Context(), "f.txt")
	if err != nil || string(got) != "served" {
		t.Errorf("ReadFile(f.txt) = %q, %v; want %q", got, err, "served")
	}
	res, err := r.Run(t.Context(), environment.Command{Argv: []string{"cat", "f.txt"}})
	if err != nil || string(res.Stdout) != "served" {
		t.Errorf("Run(cat f.txt) = %q, %v; want %q", res.Stdout, err, "served")
	}
	bad, _ := environment.NewRemote(environment.RemoteConfig{URL: "http://" + addr, Token: "nope"})
	defer bad.Close()
	if _, err := bad.ReadFile(t.Context(), "f.txt"); !errors.Is(err, environment.ErrUnauthorized) {
		t.Errorf("ReadFile with wrong token error = %v, want ErrUnauthorized", err)
	}
	r.Close()
	bad.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run exit code = %d, want 0; stderr %s", code, stderr.String())
	}
}
